/** Types shared by the chroot modules (re-exported by ./chroot-exec.ts, their public entry). */

/** A host file or directory mounted into the root for one run. */
export interface ChrootBind {
  /** Absolute host path (a directory or a file). */
  source: string;
  /** Absolute path inside the root. */
  target: string;
  readonly: boolean;
}
