/**
 * The CAS digests releases keep alive: every released file's blob (its record under
 * `releases/.stagefarm/files/`) and every digest a pointer's history names. `cache gc` keeps
 * them (and everything else it keeps) and collects the rest.
 */
import { StagefarmError, throwIfAborted } from "../errors.js";
import type { ArtifactStore } from "../store/index.js";
import { FILE_RECORDS_PREFIX } from "./layout.js";
import { readFileRecordAt } from "./file-record.js";
import { pointerNames, readPointer } from "./pointer.js";

export async function releaseRootDigests(store: ArtifactStore, signal?: AbortSignal): Promise<Set<string>> {
  const roots = new Set<string>();
  for await (const o of store.listObjects(FILE_RECORDS_PREFIX)) {
    throwIfAborted(signal);
    if (!o.path.endsWith(".json")) continue;
    const rec = await readFileRecordAt(store, o.path);
    if (rec !== undefined) roots.add(rec.digest);
  }
  for (const name of await pointerNames(store)) {
    throwIfAborted(signal);
    const p = await readPointer(store, name, signal);
    for (const promotion of p?.history ?? []) {
      roots.add(promotion.digest);
      for (const f of promotion.files) roots.add(f.digest);
    }
  }
  if (signal?.aborted === true) throw new StagefarmError("cancelled", "listing release roots was cancelled");
  return roots;
}
