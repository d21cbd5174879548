/**
 * Pack throughput: stagefarm's deterministic pack (tar --sort=name --xattrs … | zstd, hashed
 * and stored in a filesystem artifact store, fsync included) against a bare
 * `tar -cf - . | zstd -T0 -3 > file` on the same generated tree. Target: ratio ≥ 0.9.
 *
 * Usage: node dist/bench/pack-throughput.js [--size-mib N] (default 1024)
 *
 * Informative methods split the cost: `hashOnly` packs and hashes without storing, `toFile` is
 * packTreeToFile (hash, write and fsync, flushing while it writes), and `baseSync` is the
 * baseline plus an fsync of its output, for a durable-to-durable comparison: the store fsyncs
 * every blob, the bare baseline leaves its output in the page cache.
 *
 * The tree mixes incompressible random data (30%: already-compressed files, some big) and
 * compressible text (70%, many small files), so that the archive compresses about 2:1 to 3:1
 * like a stage tarball. Each method runs twice, alternating, after one unmeasured warm-up read
 * of the tree; the best run of each is compared. After every run, outside the timing, the
 * file system is synced, so no run pays for writing back the previous run's dirty pages. Temp
 * dirs are removed at the end, also on Ctrl-C.
 */
import { parseSizeArgs } from "./args.js";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { execa } from "execa";
import { StagefarmError } from "../shared/errors.js";
import { packTree, packTreeToFile } from "../shared/pack/index.js";
import { packTreeInto } from "../shared/pack/testing.js";
import { FsArtifactStore } from "../shared/store/index.js";

const MiB = 1 << 20;

/** Text that zstd compresses well but not trivially: random words from a small vocabulary. */
function textBlock(bytes: number): Buffer {
  const words = "stage portage emerge catalyst bootstrap toolchain kernel gcc glibc binutils rust seed".split(
    " ",
  );
  const rnd = randomBytes(bytes / 4);
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < bytes; i++) {
    const w = `${words[(rnd[i % rnd.length] ?? 0) % words.length]}${i % 13 === 0 ? "\n" : " "}`;
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join("")).subarray(0, bytes);
}

async function writeRandom(file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  for (let done = 0; done < bytes; done += MiB) {
    if (!out.write(randomBytes(Math.min(MiB, bytes - done))))
      await new Promise<void>((r) => out.once("drain", () => r()));
  }
  out.end();
  await finished(out);
}

/** ~`sizeMiB` of files: 20% big random files, 10% small random files, 70% text files. */
async function generateTree(dir: string, sizeMiB: number): Promise<{ files: number; bytes: number }> {
  const total = sizeMiB * MiB;
  let files = 0;
  let bytes = 0;
  const bigSize = 32 * MiB;
  for (let i = 0; bytes < total * 0.2; i++) {
    const size = Math.min(bigSize, Math.ceil(total * 0.2 - bytes));
    await writeRandom(join(dir, `big-${i}.bin`), size);
    files += 1;
    bytes += size;
  }
  const text = textBlock(4 * MiB);
  for (let d = 0; bytes < total; d++) {
    const sub = join(dir, `dir-${String(d).padStart(3, "0")}`);
    await mkdir(sub);
    for (let i = 0; i < 100 && bytes < total; i++) {
      const random = bytes < total * 0.3;
      const size = random
        ? 16 * 1024 + ((i * 7919) % (512 * 1024))
        : 4 * 1024 + ((i * 104_729) % (256 * 1024));
      if (random) await writeFile(join(sub, `blob-${i}`), randomBytes(size));
      else {
        const at = (i * 65_537) % (text.length - size);
        await writeFile(join(sub, `text-${i}.txt`), text.subarray(at, at + size));
      }
      files += 1;
      bytes += size;
    }
  }
  return { files, bytes };
}

interface Run {
  method: "baseline" | "baseSync" | "packTree" | "hashOnly" | "toFile";
  seconds: number;
  outBytes: number;
}

async function runBaseline(tree: string, out: string, signal: AbortSignal, durable = false): Promise<Run> {
  const t0 = performance.now();
  const sync = durable ? ` && sync '${out}'` : "";
  await execa("sh", ["-c", `tar -C '${tree}' -cf - . | zstd -T0 -3 -q > '${out}'${sync}`], {
    cancelSignal: signal,
  });
  const seconds = (performance.now() - t0) / 1000;
  return { method: durable ? "baseSync" : "baseline", seconds, outBytes: (await stat(out)).size };
}

async function runPackTree(tree: string, store: FsArtifactStore, signal: AbortSignal): Promise<Run> {
  const t0 = performance.now();
  const info = await packTree(tree, store, { signal });
  const seconds = (performance.now() - t0) / 1000;
  await store.deleteBlob(info.digest);
  return { method: "packTree", seconds, outBytes: info.size };
}

/** packTree's pipeline into a sink that only hashes: the pack cost without the store's. */
async function runHashOnly(tree: string, signal: AbortSignal): Promise<Run> {
  const t0 = performance.now();
  const info = await packTreeInto(
    tree,
    async (data) => {
      const h = createHash("sha256");
      let size = 0;
      for await (const chunk of data as AsyncIterable<Buffer>) {
        h.update(chunk);
        size += chunk.length;
      }
      return { digest: h.digest("hex"), size };
    },
    { signal },
  );
  return { method: "hashOnly", seconds: (performance.now() - t0) / 1000, outBytes: info.size };
}

async function runToFile(tree: string, out: string, signal: AbortSignal): Promise<Run> {
  const t0 = performance.now();
  const info = await packTreeToFile(tree, out, { signal });
  return { method: "toFile", seconds: (performance.now() - t0) / 1000, outBytes: info.size };
}

async function main(): Promise<void> {
  const args = parseSizeArgs(process.argv.slice(2));
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once("SIGINT", onSigint);
  const work = await mkdtemp(join(tmpdir(), "sf-bench-pack-"));
  try {
    const tree = join(work, "tree");
    await mkdir(tree);
    const t0 = performance.now();
    const { files, bytes } = await generateTree(tree, args.sizeMiB);
    const treeMiB = bytes / MiB;
    console.log(
      `tree: ${treeMiB.toFixed(0)} MiB in ${files} files (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const store = await FsArtifactStore.open(join(work, "store"));
    const baselineOut = join(work, "baseline.tar.zst");
    await execa("sh", ["-c", `tar -C '${tree}' -cf - . > /dev/null`], { cancelSignal: ac.signal }); // warm-up
    const runs: Run[] = [];
    const sync = (): Promise<unknown> => execa("sync", [], { cancelSignal: ac.signal });
    await sync();
    for (let i = 0; i < 2; i++) {
      runs.push(await runBaseline(tree, baselineOut, ac.signal));
      await sync();
      runs.push(await runPackTree(tree, store, ac.signal));
      await sync();
      runs.push(await runHashOnly(tree, ac.signal));
      runs.push(await runToFile(tree, join(work, "packed.tar.zst"), ac.signal));
      await sync();
      runs.push(await runBaseline(tree, baselineOut, ac.signal, true));
      await sync();
    }
    for (const r of runs)
      console.log(
        `${r.method.padEnd(9)} ${r.seconds.toFixed(2).padStart(7)} s  ${(treeMiB / r.seconds).toFixed(1).padStart(7)} MiB/s  -> ${(r.outBytes / MiB).toFixed(1)} MiB`,
      );
    const best = (m: Run["method"]): number =>
      Math.min(...runs.filter((r) => r.method === m).map((r) => r.seconds));
    const baseline = treeMiB / best("baseline");
    const ours = treeMiB / best("packTree");
    const ratio = ours / baseline;
    const hashOnly = treeMiB / best("hashOnly");
    const toFile = treeMiB / best("toFile");
    const baseSync = treeMiB / best("baseSync");
    const packed = Math.min(...runs.map((r) => r.outBytes)) / MiB;
    console.log(`archive: ${packed.toFixed(0)} MiB (compression ${(treeMiB / packed).toFixed(2)}:1)`);
    console.log(`baseline tar|zstd:            ${baseline.toFixed(1)} MiB/s (best of 2)`);
    console.log(`packTree (pack+hash+store):   ${ours.toFixed(1)} MiB/s (best of 2)`);
    console.log(`pack+hash, no store:          ${hashOnly.toFixed(1)} MiB/s (best of 2)`);
    console.log(`packTreeToFile (fsynced):     ${toFile.toFixed(1)} MiB/s (best of 2)`);
    console.log(`baseline + fsync of output:   ${baseSync.toFixed(1)} MiB/s (best of 2)`);
    console.log(`ratio packTree/baseline:      ${ratio.toFixed(3)} (target >= 0.9)`);
    console.log(`ratio pack+hash/baseline:     ${(hashOnly / baseline).toFixed(3)}`);
    console.log(`ratio packTreeToFile/baseline: ${(toFile / baseline).toFixed(3)}`);
    console.log(`ratio packTree/(baseline+fsync): ${(ours / baseSync).toFixed(3)}`);
    console.log(
      JSON.stringify({
        bench: "pack-throughput",
        treeMiB,
        files,
        baselineMiBps: baseline,
        packTreeMiBps: ours,
        ratio,
      }),
    );
    await store.close();
  } finally {
    process.off("SIGINT", onSigint);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  const e = StagefarmError.from(err);
  console.error(`pack-throughput: ${e.code}: ${e.message}`);
  process.exitCode = 1;
});
