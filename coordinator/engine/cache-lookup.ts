/**
 * Action-cache lookup: a cache key → the outputs of an earlier successful execution, but only
 * when the manifest is readable and every blob it names is still in the store. A manifest that
 * is corrupt or points at missing (or resized) blobs is a miss and is removed, never a hit: the
 * stage runs again and its new manifest takes the place (manifests are written only if absent,
 * so a stale one left behind would keep every later run rebuilding). Blobs with the right size
 * but the wrong bytes are found when read (digest verification); the engine then drops the
 * entry too (./failure-policy.ts).
 */
import type { Digest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { ArtifactStore, Manifest } from "../../shared/store/index.js";

export async function lookupCache(
  store: ArtifactStore,
  key: Digest,
  log: Logger,
): Promise<Manifest | undefined> {
  let manifest: Manifest | undefined;
  try {
    manifest = await store.getManifest(key);
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code !== "corrupt_artifact") throw e;
    log.warn({ key, err: e }, "corrupt action-cache manifest removed; the stage will run again");
    await store.deleteManifest(key);
    return undefined;
  }
  if (manifest === undefined) return undefined;
  for (const [name, out] of Object.entries(manifest.outputs)) {
    const info = await store.statBlob(out.digest);
    if (info === undefined || info.size !== out.size) {
      log.warn(
        { key, output: name, digest: out.digest, size: info?.size },
        "cached output missing from the store (or of another size); entry removed, the stage will run again",
      );
      await store.deleteManifest(key);
      return undefined;
    }
  }
  return manifest;
}
