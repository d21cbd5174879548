/**
 * Reading a file that holds a secret or decides access (a TLS private key, the auth file, NATS
 * credentials): it must be a regular file of at most 1 MiB that no other user can read or
 * write, checked on the opened file, else it is refused (`invalid_argument`) with a message
 * naming the file, its mode and the fix. The content never appears in an error. Loads nothing
 * heavy: any process (gRPC or NATS side) may import it.
 */
import { open, type FileHandle } from "node:fs/promises";
import { StagefarmError } from "./errors.js";

const MAX_SECRET_FILE_BYTES = 1 << 20;

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/**
 * The bytes of `path`, checked: a regular file, at most 1 MiB, without group or other
 * permissions. `what` names it in errors ("TLS key", "auth file", "NATS credentials file").
 */
export async function readSecretFile(path: string, what: string): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err: unknown) {
    const e = StagefarmError.from(err, "invalid_argument");
    // A missing file is a wrong flag or setting, not a missing farm object.
    throw new StagefarmError(
      e.code === "not_found" ? "invalid_argument" : e.code,
      `${what} ${path} cannot be read: ${e.message}`,
      { cause: err },
    );
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new StagefarmError("invalid_argument", `${what} ${path} is not a regular file`);
    const mode = octal(st.mode);
    if ((st.mode & 0o077) !== 0)
      throw new StagefarmError(
        "invalid_argument",
        `${what} ${path} is accessible to other users (mode ${mode}): run \`chmod 600 ${path}\` so that only its owner can read and write it`,
        { details: { path, mode } },
      );
    if (st.size > MAX_SECRET_FILE_BYTES)
      throw new StagefarmError(
        "invalid_argument",
        `${what} ${path} is larger than 1 MiB (${st.size} bytes): is it the right file?`,
      );
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
