/**
 * The first step of a publication, outside the binhost's lock: copy each uploaded package
 * from the store's CAS to a temp file (verified against its digest on the way) and read it
 * with the binary package reader, which checks the container, the Manifest's sizes and hashes,
 * that the metadata names CATEGORY and PF, and that the payload (gpkg image, xpak tarball)
 * decompresses and reads as a tar to its end, so nothing portage cannot extract is admitted. Anything wrong refuses the package, naming the
 * binhost, the digest and the stage that built it.
 */
import { join } from "node:path";
import { readBinpkg, type BinpkgInfo } from "../../shared/binpkg/index.js";
import { StagefarmError, throwIfAborted } from "../../shared/errors.js";
import type { BinhostPackageRef } from "../../shared/protocol/binhost.js";
import type { ArtifactStore } from "../../shared/store/index.js";

export interface InspectedPackage {
  ref: BinhostPackageRef;
  /** The temp copy of the uploaded bytes. */
  file: string;
  info: BinpkgInfo;
}

/** How a package is named in messages: its digest and, when known, the stage that built it. */
export function describeRef(ref: BinhostPackageRef): string {
  return `sha256:${ref.digest.slice(0, 12)}${ref.stage === undefined ? "" : ` from stage ${ref.stage}`}`;
}

/** Copies and reads one uploaded package; `dir` is a private temp directory. */
export async function inspectUpload(
  store: ArtifactStore,
  name: string,
  ref: BinhostPackageRef,
  dir: string,
  signal?: AbortSignal,
): Promise<InspectedPackage> {
  throwIfAborted(signal);
  const what = `binhost "${name}": package ${describeRef(ref)}`;
  const file = join(dir, ref.digest);
  let size: number;
  try {
    ({ size } = await store.getBlobToFile(ref.digest, file, signal));
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "not_found")
      throw new StagefarmError("not_found", `${what} is not in the store (upload it before publishing)`, {
        cause: e,
        details: { digest: ref.digest },
      });
    throw StagefarmError.wrap(err, what, { details: { digest: ref.digest } });
  }
  if (size !== ref.size)
    throw new StagefarmError(
      "corrupt_artifact",
      `${what}: announced ${ref.size} bytes, the store holds ${size} (a truncated or mixed-up upload)`,
      { details: { digest: ref.digest } },
    );
  try {
    const info = await readBinpkg(file, signal === undefined ? { payload: true } : { signal, payload: true });
    return { ref, file, info };
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    // The reader names the temp file; the user knows the package by its digest and stage.
    const msg = e.message
      .replace(`binary package ${file}: `, "")
      .split(file)
      .join(`sha256:${ref.digest.slice(0, 12)}`);
    throw new StagefarmError(e.code, `${what} refused: ${msg}`, {
      cause: e,
      details: { ...e.details, digest: ref.digest, ...(ref.stage === undefined ? {} : { stage: ref.stage }) },
    });
  }
}

/** Inspects several packages, `parallel` at a time; the first failure stops the rest. */
export async function inspectAll(
  store: ArtifactStore,
  name: string,
  refs: readonly BinhostPackageRef[],
  dir: string,
  signal: AbortSignal | undefined,
  parallel = 4,
): Promise<InspectedPackage[]> {
  const out: InspectedPackage[] = new Array<InspectedPackage>(refs.length);
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < refs.length) {
      const i = next++;
      const ref = refs[i];
      if (ref === undefined) return;
      try {
        out[i] = await inspectUpload(store, name, ref, dir, signal);
      } catch (err: unknown) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, refs.length) }, worker));
  if (failed !== undefined) throw StagefarmError.from(failed);
  return out;
}
