/** `--repro STAGE[,STAGE…]` and `--repro-strict`, shared by `stagefarm run` and `stagefarm submit`. */
import type { Command } from "commander";
import type { ReproSubmission } from "../../coordinator/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { collect } from "../options.js";

export interface ReproFlags {
  repro: string[];
  reproStrict?: boolean;
}

export function reproOptions(cmd: Command): Command {
  return cmd
    .option(
      "--repro <stages>",
      "build these stages (comma-separated; repeatable) a second time without the cache, on another agent (embedded: in another workspace), and record whether the outputs are the same",
      collect,
      [],
    )
    .option("--repro-strict", "with --repro: a stage that is not reproducible fails the run");
}

/** The request the flags make; undefined without --repro. Names are checked by the coordinator. */
export function reproRequestOf(flags: ReproFlags): ReproSubmission | undefined {
  const stages = flags.repro.flatMap((v) => v.split(",")).map((s) => s.trim());
  if (stages.some((s) => s === ""))
    throw new StagefarmError("invalid_argument", "--repro: expected STAGE[,STAGE…] (an empty name)");
  if (stages.length === 0) {
    if (flags.reproStrict === true)
      throw new StagefarmError("invalid_argument", "--repro-strict needs --repro STAGE[,STAGE…]");
    return undefined;
  }
  return { stages: [...new Set(stages)], strict: flags.reproStrict === true };
}
