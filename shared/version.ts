/** The stagefarm release this code is (the CLI's --version, agents' reported version). */
export const STAGEFARM_VERSION = "0.1.0";
