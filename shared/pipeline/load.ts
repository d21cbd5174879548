/** Reads and parses a pipeline file. */
import { parsePipeline } from "./parse.js";
import { readPipelineFile } from "./read-file.js";
import type { PipelineSpec } from "./types.js";

/**
 * Loads `path`: `not_found` when the file is missing, `invalid_argument` when it is not a
 * regular file or is too large (read-file.ts), PipelineError when it is invalid.
 */
export async function loadPipeline(path: string, signal?: AbortSignal): Promise<PipelineSpec> {
  return parsePipeline(await readPipelineFile(path, signal), path);
}
