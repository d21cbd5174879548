/** Reads and parses a pipeline file. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { StagefarmError } from "../errors.js";
import { parsePipeline } from "./parse.js";
import type { PipelineSpec } from "./types.js";

/** Loads `path`; `not_found` when the file is missing, PipelineError when it is invalid. */
export async function loadPipeline(path: string, signal?: AbortSignal): Promise<PipelineSpec> {
  let text: string;
  try {
    text = await readFile(path, { encoding: "utf8", signal });
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (err instanceof Error && (err as NodeJS.ErrnoException).code === "EISDIR")
      throw new StagefarmError(
        "invalid_argument",
        `${path} is a directory; give the pipeline file (e.g. ${join(path, "pipeline.yaml")})`,
        { cause: err, details: { path } },
      );
    if (e.code === "not_found")
      throw new StagefarmError("not_found", `pipeline file not found: ${path}`, {
        cause: err,
        details: { path },
      });
    throw new StagefarmError(e.code, `cannot read pipeline file ${path}: ${e.message}`, {
      cause: err,
      details: { path },
    });
  }
  return parsePipeline(text, path);
}
