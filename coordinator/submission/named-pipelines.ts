/**
 * Pipelines a server offers by name (`stagefarm up --pipelines DIR`): a submission may say
 * `{"pipelineName": "demo"}` instead of sending the text. The name is one path segment of
 * letters, digits, `.`, `_` and `-` (no `..`), looked up as `DIR/NAME.yaml` or
 * `DIR/NAME/pipeline.yaml`; the file found must be a regular file inside DIR once symlinks are
 * resolved, and no larger than the submission size cap. So the client chooses among the files
 * the operator put there, never a path.
 */
import { open, readdir, realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import { StagefarmError } from "../../shared/errors.js";
import { quoted } from "../../shared/util/excerpt.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The most names {@link NamedPipelines.names} offers (a directory of thousands is cut here). */
export const MAX_LISTED_PIPELINES = 200;

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

  /**
   * The names a client may pick, sorted: `NAME.yaml` and `NAME/pipeline.yaml` entries of the
   * directory whose name is a pipeline name (at most {@link MAX_LISTED_PIPELINES}). What a name
   * leads to is checked by {@link read} when it is read, so a name listed here may still be
   * refused (a symlink out of the directory, a file too large).
   */
  async names(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch((err: unknown) => {
      throw new StagefarmError("unavailable", "the pipelines directory cannot be read", { cause: err });
    });
    const found = new Set<string>();
    for (const e of entries) {
      const name = e.name.endsWith(".yaml") ? e.name.slice(0, -".yaml".length) : e.name;
      if (e.name.endsWith(".yaml") ? e.isDirectory() : !(e.isDirectory() || e.isSymbolicLink())) continue;
      if (NAME.test(name) && !name.includes("..")) found.add(name);
    }
    return [...found].sort().slice(0, MAX_LISTED_PIPELINES);
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

/**
 * The pipeline a submission names, with its params: what `{"pipelineName": NAME}` resolves
 * to on a server offering `named` (both APIs of `stagefarm up`); refused without one.
 */
export async function namedSubmission(
  named: NamedPipelines | undefined,
  name: string,
  params: Record<string, string>,
): Promise<NamedPipeline & { params: Record<string, string> }> {
  if (named === undefined)
    throw new StagefarmError(
      "invalid_argument",
      'this server offers no pipelines by name (start it with --pipelines DIR); send "pipelineYaml"',
    );
  return { ...(await named.read(name)), params };
}
