/**
 * Reading a secret from a file (a TLS private key, an auth config, a credentials file): the
 * file must be a regular file no other user can read or write, else it is refused with a
 * message naming the file and the fix. Loads nothing heavy: any process may import it.
 */
import { open } from "node:fs/promises";
import { StagefarmError } from "../errors.js";

const MAX_SECRET_FILE_BYTES = 1 << 20;

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/**
 * The bytes of `path`, checked: a regular file, at most 1 MiB, without group or other
 * permissions. `what` names it in errors ("TLS key", "auth file").
 */
export async function readSecretFile(path: string, what: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (err: unknown) {
    const e = StagefarmError.from(err, "invalid_argument");
    throw new StagefarmError(e.code, `cannot open ${what} ${path}: ${e.message}`, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new StagefarmError("invalid_argument", `${what} ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0)
      throw new StagefarmError(
        "invalid_argument",
        `${what} ${path} is accessible to other users (mode ${octal(st.mode)}); it holds secrets: run \`chmod 600 ${path}\``,
        { details: { path, mode: octal(st.mode) } },
      );
    if (st.size > MAX_SECRET_FILE_BYTES)
      throw new StagefarmError("invalid_argument", `${what} ${path} is larger than 1 MiB`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
