/**
 * The filesystem helpers every module needs once: the errno of a failure, whether a path exists,
 * and reading a PEM file a flag names.
 */
import { lstat, readFile } from "node:fs/promises";
import { StagefarmError } from "../errors.js";

/** The errno code (`ENOENT`, `EACCES`, …) of a failed system call, if `err` is one. */
export function errnoOf(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("code" in err)) return undefined;
  return typeof err.code === "string" ? err.code : undefined;
}

/**
 * Whether anything is at `path` (a symlink counts, dangling or not). Only "no such file" means
 * no; any other failure (a permission, an I/O error) is thrown, not taken for an absent file.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err: unknown) {
    const errno = errnoOf(err);
    if (errno === "ENOENT" || errno === "ENOTDIR") return false;
    throw StagefarmError.wrap(err, `cannot look at ${path}`);
  }
}

/** The bytes of a PEM file (a CA, a certificate) named by a flag; `what` names it in errors. */
export async function readPem(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err: unknown) {
    throw StagefarmError.wrap(err, `cannot read ${what} ${file}`, { fallback: "invalid_argument" });
  }
}
