/**
 * Compares the outputs of a stage's two builds, output by output: equal digests are the same;
 * otherwise both blobs are fetched from the store (verified against their digests) into a
 * private temporary directory and compared as trees with shared/diff (tree vs tree, tarball vs
 * tarball, ISO vs ISO). A `file` output that is no archive is compared by its bytes. The
 * temporary directory is removed whatever happens.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compareTrees, indexSource, type TreeIndex } from "../../shared/diff/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ArtifactStore, ManifestOutput } from "../../shared/store/index.js";
import type { OutputComparison } from "./verdict.js";

export async function compareOutputs(
  store: ArtifactStore,
  first: Readonly<Record<string, ManifestOutput>>,
  second: Readonly<Record<string, ManifestOutput>>,
  signal: AbortSignal,
): Promise<OutputComparison[]> {
  const names = [...new Set([...Object.keys(first), ...Object.keys(second)])].sort();
  const out: OutputComparison[] = [];
  const work = await mkdtemp(join(tmpdir(), "stagefarm-repro-"));
  try {
    for (const [i, name] of names.entries()) {
      const a = first[name];
      const b = second[name];
      const base = { name, a: a?.digest ?? "", b: b?.digest ?? "" };
      if (a !== undefined && b !== undefined && a.digest === b.digest) out.push({ ...base, t: "same" });
      else if (a === undefined || b === undefined) out.push({ ...base, t: "bytes" });
      else out.push(await compareBlobs(store, name, a, b, join(work, String(i)), signal));
    }
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function compareBlobs(
  store: ArtifactStore,
  name: string,
  a: ManifestOutput,
  b: ManifestOutput,
  /** Where the two blobs go (`<prefix>.a`, `<prefix>.b`): output names never become paths. */
  prefix: string,
  signal: AbortSignal,
): Promise<OutputComparison> {
  const base = { name, a: a.digest, b: b.digest };
  const fa = `${prefix}.a`;
  const fb = `${prefix}.b`;
  await store.getBlobToFile(a.digest, fa, signal);
  await store.getBlobToFile(b.digest, fb, signal);
  const index = (file: string, label: string): Promise<TreeIndex> =>
    indexSource({ t: "archive", file, label }, { signal });
  try {
    const ia = await index(fa, `${name} of the first build (sha256:${a.digest})`);
    const ib = await index(fb, `${name} of the second build (sha256:${b.digest})`);
    return { ...base, t: "diff", report: compareTrees(ia, ib, { normalize: false }) };
  } catch (err: unknown) {
    // A tree output is an archive the farm packed: failing to read it is a failure to compare.
    // A file output may be any file (a log, a checksum list): its bytes differ, and that is all.
    if (a.kind === "tree" || signal.aborted) throw StagefarmError.from(err);
    return { ...base, t: "bytes" };
  } finally {
    await rm(fa, { force: true });
    await rm(fb, { force: true });
  }
}
