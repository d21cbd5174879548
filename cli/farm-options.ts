/** Options of the distributed processes (agent, coordinator), for their registrations; read by ./distributed-config.ts. */
import type { Command } from "commander";
import { DEFAULT_MAX_UNPACKED_BYTES } from "../shared/pack/unpack-limits.js";
import { envOption } from "./options.js";

/** Help of the store outage settings (agent and coordinator). */
export const STORE_OUTAGE_BUDGET_HELP =
  "how long a store (S3) outage may last before the stages waiting for it fail; until then store " +
  "operations are retried, finished outputs and logs are held locally and no new stage is dispatched " +
  "(default 10m). Each S3 request is itself tried " +
  "1 + STAGEFARM_S3_RETRIES times (default 6) before it counts as an outage";

/** Adds the store outage option (`FarmFlags.storeOutageBudget`) to a farm command. */
export function addStoreOptions(cmd: Command): Command {
  return cmd.addOption(
    envOption("--store-outage-budget <duration>", STORE_OUTAGE_BUDGET_HELP, "STAGEFARM_STORE_OUTAGE_BUDGET"),
  );
}

/** Adds the NATS credential and TLS options (`FarmFlags.nats*`) to a farm command. */
export function addNatsOptions(cmd: Command): Command {
  return cmd
    .addOption(
      envOption(
        "--nats-creds <file>",
        "NATS credentials: an nkey seed (stagefarm nats user) or USER:PASSWORD, mode 0600",
        "STAGEFARM_NATS_CREDS",
      ),
    )
    .addOption(
      envOption(
        "--nats-ca <file>",
        "CA that signed the NATS server's certificate; enables TLS",
        "STAGEFARM_NATS_CA",
      ),
    )
    .addOption(
      envOption("--nats-cert <file>", "client certificate for mutual TLS with NATS", "STAGEFARM_NATS_CERT"),
    )
    .addOption(envOption("--nats-key <file>", "key of --nats-cert, mode 0600", "STAGEFARM_NATS_KEY"));
}

/** Help of --max-unpacked-size (read by ./unpacked-size.ts). */
export const UNPACKED_SIZE_HELP = `largest tree one stage input may unpack to, e.g. 64G or off; a Gentoo stage3 unpacks to a few GiB (default ${DEFAULT_MAX_UNPACKED_BYTES / 2 ** 30}G)`;
