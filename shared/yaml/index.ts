/**
 * Reading YAML with bounds: every YAML document stagefarm reads goes through here (see
 * bounds.ts for the limits and why each exists).
 */
export { YAML_BOUNDS, type YamlBounds } from "./bounds.js";
export { readYamlDocument } from "./read.js";
export { parseYamlData } from "./data.js";
export { anchorTargets } from "./anchors.js";
