/**
 * `stagefarm diff A B`: compares two trees and explains every difference by the package that
 * owns the path (shared/diff). A and B are each a directory, an archive file (tar, .tar.zst,
 * .tar.xz, .tar.gz, .tar.bz2), an ISO image, a blob of the local store (`sha256:<digest>`, a
 * digest or a unique prefix of at least 8 hex digits) or the output of a stage of a run
 * (`RUN:STAGE:OUTPUT`, found through the cache entry that run's attempt wrote). An existing path
 * wins over a digest; `sha256:` forces the store.
 *
 * Exit status, as diff(1) and cmp(1): 0 identical, 1 different, 2 trouble (any error).
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import {
  compareTrees,
  formatReport,
  indexSource,
  type TreeIndex,
  type TreeSource,
} from "../../shared/diff/index.js";
import { isDigest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { blobPath, FsArtifactStore } from "../../shared/store/index.js";
import { excerpt } from "../../shared/util/excerpt.js";
import type { CliContext } from "../context.js";
import { makeStyle } from "../output.js";

export interface DiffFlags {
  normalize?: boolean;
  json?: boolean;
  maxEntries?: string;
}

export async function runDiff(ctx: CliContext, a: string, b: string, opts: DiffFlags): Promise<number> {
  const maxEntries = opts.maxEntries === undefined ? undefined : parseCount(opts.maxEntries);
  let store: FsArtifactStore | undefined;
  const openStore = async (): Promise<FsArtifactStore> =>
    (store ??= await FsArtifactStore.open(ctx.config().storeDir));
  try {
    const [sa, sb] = [await resolveSource(a, openStore), await resolveSource(b, openStore)];
    // Both sides stream at once (two decompressors, two cores); the first failure stops the other.
    const stop = new AbortController();
    const iopts = { signal: stop.signal, ...(maxEntries === undefined ? {} : { maxEntries }) };
    const side = (s: TreeSource): Promise<TreeIndex> =>
      indexSource(s, iopts).catch((err: unknown) => {
        stop.abort();
        throw err;
      });
    const [ra, rb] = await Promise.allSettled([side(sa), side(sb)]);
    if (ra.status === "rejected" || rb.status === "rejected") throw firstFailure(ra, rb);
    const [ia, ib] = [ra.value, rb.value];
    const report = compareTrees(ia, ib, { normalize: opts.normalize === true });
    if (opts.json === true) ctx.stdout.write(`${JSON.stringify(report)}\n`);
    else ctx.stdout.write(formatReport(report, makeStyle(ctx.color(ctx.stdout))));
    return report.identical ? 0 : 1;
  } finally {
    await store?.close();
  }
}

/** The error that stopped the diff, rather than the other side's resulting cancellation. */
function firstFailure(...results: PromiseSettledResult<TreeIndex>[]): unknown {
  const errors = results.flatMap((r) => (r.status === "rejected" ? [StagefarmError.from(r.reason)] : []));
  return errors.find((e) => e.code !== "cancelled") ?? errors[0];
}

function parseCount(s: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(s))
    throw new StagefarmError(
      "invalid_argument",
      `--max-entries must be a positive whole number, got "${excerpt(s, 40)}"`,
    );
  return Number(s);
}

/** What one argument names: a path, a store blob, or a run's stage output. */
async function resolveSource(arg: string, openStore: () => Promise<FsArtifactStore>): Promise<TreeSource> {
  if (!arg.startsWith("sha256:")) {
    const st = await stat(arg).catch(() => undefined);
    if (st !== undefined)
      return st.isDirectory() ? { t: "dir", dir: arg, label: arg } : { t: "archive", file: arg, label: arg };
  }
  const hex = arg.startsWith("sha256:") ? arg.slice("sha256:".length) : arg;
  if (/^[0-9a-f]{8,64}$/.test(hex)) {
    const store = await openStore();
    const digest = await findBlob(store, hex);
    return storeSource(store, digest, `sha256:${digest}`);
  }
  const parts = arg.split(":");
  if (parts.length === 3 && parts.every((p) => p !== "")) {
    const [run = "", stage = "", output = ""] = parts;
    const store = await openStore();
    const digest = await findRunOutput(store, run, stage, output);
    return storeSource(store, digest, `${arg} (sha256:${digest})`);
  }
  throw new StagefarmError(
    "not_found",
    `"${excerpt(arg, 120)}" is not a file, a directory, a store digest or RUN:STAGE:OUTPUT`,
  );
}

async function findBlob(store: FsArtifactStore, hex: string): Promise<string> {
  if (isDigest(hex)) return hex;
  const found: string[] = [];
  for await (const blob of store.listBlobs()) if (blob.digest.startsWith(hex)) found.push(blob.digest);
  if (found.length === 0) throw new StagefarmError("not_found", `no blob ${hex}… in ${store.describe}`);
  if (found.length > 1)
    throw new StagefarmError(
      "invalid_argument",
      `digest prefix ${hex} is ambiguous: ${found.map((d) => d.slice(0, 16)).join(", ")}`,
    );
  return found[0] ?? hex;
}

/** The output of `stage` that run `run` produced: its cache entry names the run's log. */
async function findRunOutput(
  store: FsArtifactStore,
  run: string,
  stage: string,
  output: string,
): Promise<string> {
  const logPrefix = `logs/${run}/${stage}/`;
  for await (const m of store.listManifests()) {
    if (m.stage !== stage || m.log?.startsWith(logPrefix) !== true) continue;
    const o = m.outputs[output];
    if (o === undefined)
      throw new StagefarmError(
        "not_found",
        `stage ${excerpt(stage, 80)} of run ${excerpt(run, 40)} has no output "${excerpt(output, 80)}" (it has: ${Object.keys(m.outputs).join(", ")})`,
      );
    return o.digest;
  }
  throw new StagefarmError(
    "not_found",
    `no cache entry was produced by run ${excerpt(run, 40)} for stage ${excerpt(stage, 80)} in ${store.describe} (a stage the run took from the cache: name its output by digest, see \`stagefarm cache show\`)`,
  );
}

/** A verified store blob, read in place (blobs are immutable once named). */
async function storeSource(store: FsArtifactStore, digest: string, label: string): Promise<TreeSource> {
  await store.verifyBlob(digest);
  return { t: "archive", file: join(store.root, blobPath(digest)), label };
}
