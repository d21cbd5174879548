/**
 * A pipeline file named on the command line. The file is the user's input, so a missing one is
 * bad input like a malformed one: exit status 2 as the README promises (`not_found` elsewhere,
 * e.g. a named pipeline the coordinator does not have, stays a 404 / exit 1).
 */
import { StagefarmError } from "../shared/errors.js";
import { loadPipeline, readPipelineFile, type PipelineSpec } from "../shared/pipeline/index.js";

function asInput(err: unknown): unknown {
  if (err instanceof StagefarmError && err.code === "not_found")
    return new StagefarmError("invalid_argument", err.message, { cause: err, details: err.details });
  return err;
}

/** The parsed pipeline of the file argument `file`. */
export async function loadPipelineArg(file: string): Promise<PipelineSpec> {
  try {
    return await loadPipeline(file);
  } catch (err: unknown) {
    throw asInput(err);
  }
}

/** The text of the file argument `file`, read with the pipeline file's bounds. */
export async function readPipelineArg(file: string): Promise<string> {
  try {
    return await readPipelineFile(file);
  } catch (err: unknown) {
    throw asInput(err);
  }
}
