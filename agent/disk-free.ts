/** Free space for unprivileged use in the filesystem holding `dir` (0 when it cannot be read). */
import { statfs } from "node:fs/promises";

export async function diskFreeBytes(dir: string): Promise<number> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}
