/**
 * Pipelines a server offers by name (`stagefarm up --pipelines DIR`): a submission may say
 * `{"pipelineName": "demo"}` instead of sending the text. The name is one path segment of
 * letters, digits, `.`, `_` and `-` (no `..`), looked up as `DIR/NAME.yaml` or
 * `DIR/NAME/pipeline.yaml`; the file found must be a regular file inside DIR once symlinks are
 * resolved, and no larger than the submission size cap. So the client chooses among the files
 * the operator put there, never a path.
 */
import { open, realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import { StagefarmError } from "../../shared/errors.js";
import { quoted } from "../../shared/util/excerpt.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface NamedPipeline {
  yaml: string;
  /** The label of its messages: `NAME/pipeline.yaml` or `NAME.yaml`. */
  path: string;
}

export class NamedPipelines {
  private constructor(
    /** The directory, symlinks resolved. */
    readonly root: string,
    private readonly maxBytes: number,
  ) {}

  /** Checks that `dir` is a directory (at startup: a mistake fails there, not per request). */
  static async open(dir: string, maxBytes: number): Promise<NamedPipelines> {
    try {
      const root = await realpath(dir);
      const d = await open(root, "r");
      try {
        if (!(await d.stat()).isDirectory()) throw new Error("not a directory");
      } finally {
        await d.close();
      }
      return new NamedPipelines(root, maxBytes);
    } catch (err: unknown) {
      throw new StagefarmError(
        "invalid_argument",
        `--pipelines ${dir}: not a readable directory (${StagefarmError.from(err).message})`,
        { cause: err },
      );
    }
  }

  async read(name: string): Promise<NamedPipeline> {
    if (!NAME.test(name) || name.includes(".."))
      throw new StagefarmError(
        "invalid_argument",
        `pipelineName ${quoted(name, 64)} is not a pipeline name (letters, digits, ".", "_", "-")`,
      );
    for (const rel of [`${name}.yaml`, `${name}/pipeline.yaml`]) {
      const found = await this.readWithin(rel);
      if (found === "too large")
        throw new StagefarmError(
          "invalid_pipeline",
          `pipeline ${quoted(name)} is larger than this server accepts`,
        );
      if (found !== undefined) return { yaml: found.text, path: rel };
    }
    // Missing, outside the directory, not a regular file or unreadable: all the same to a client.
    throw new StagefarmError("not_found", `this server offers no pipeline named ${quoted(name)}`);
  }

  /** The text of the regular file `rel` below the root (symlinks resolved), or undefined. */
  private async readWithin(rel: string): Promise<{ text: string } | "too large" | undefined> {
    try {
      const real = await realpath(join(this.root, rel));
      if (!real.startsWith(`${this.root}${sep}`)) return undefined;
      const f = await open(real, "r");
      try {
        const st = await f.stat();
        if (!st.isFile()) return undefined;
        if (st.size > this.maxBytes) return "too large";
        return { text: await f.readFile("utf8") };
      } finally {
        await f.close();
      }
    } catch {
      // A file that vanished or cannot be read is not offered (read() says so, naming no path).
      return undefined;
    }
  }
}
