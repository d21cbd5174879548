/**
 * Reading the tail of a large stored log, as the dashboard opens a stage of hundreds of
 * megabytes of build output: a ranged read through the store port (`getLog(path, {start})`, an
 * S3 ranged GET) against the whole log streamed and the bytes before the tail skipped (what the
 * dashboard did before the port had ranged reads), on s3rver (started by the test harness, in a
 * child process, on loopback) and on the filesystem store.
 *
 * Usage: node dist/bench/log-tail.js [--size-mib N] (default 256)
 *
 * Each way runs three times, alternating; the best of each is compared, and the ratio
 * skip/ranged is printed (how many times faster the ranged read is). The tail is 64 KiB, the
 * dashboard's first window. Temp dirs and the server are removed at the end.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { FsArtifactStore, type ArtifactStore } from "../shared/store/index.js";
import { S3ArtifactStore } from "../shared/store/testing.js";
import { startS3rver } from "../test/helpers/s3rver.js";
import { parseSizeArgs } from "./args.js";

const MiB = 1 << 20;
const TAIL = 64 << 10;
const PATH = "logs/bench-run/world/1.log";

async function writeLog(file: string, bytes: number): Promise<void> {
  const line = Buffer.from(">>> Compiling source in /var/tmp/portage/sys-devel/gcc-14.2.1_p20241221 ...\n");
  const block = Buffer.concat(Array.from({ length: Math.ceil(MiB / line.length) }, () => line)).subarray(
    0,
    MiB,
  );
  const out = createWriteStream(file);
  for (let done = 0; done < bytes; done += MiB)
    if (!out.write(block.subarray(0, Math.min(MiB, bytes - done))))
      await new Promise<void>((r) => out.once("drain", () => r()));
  out.end();
  await finished(out);
}

async function drain(stream: Readable, skip = 0): Promise<number> {
  let seen = 0;
  let kept = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    kept += Math.max(0, Math.min(chunk.length, seen + chunk.length - skip));
    seen += chunk.length;
  }
  return kept;
}

async function best(fn: () => Promise<number>, runs: number[]): Promise<void> {
  const t0 = performance.now();
  const kept = await fn();
  if (kept !== TAIL) throw new Error(`read ${kept} bytes of the tail, expected ${TAIL}`);
  runs.push(performance.now() - t0);
}

async function compare(store: ArtifactStore, size: number): Promise<void> {
  const start = size - TAIL;
  const ranged: number[] = [];
  const skipped: number[] = [];
  for (let i = 0; i < 3; i++) {
    await best(async () => drain(await store.getLog(PATH, { start })), ranged);
    await best(async () => drain(await store.getLog(PATH), start), skipped);
  }
  const r = Math.min(...ranged);
  const s = Math.min(...skipped);
  console.log(
    `${store.describe.padEnd(40)} ranged ${r.toFixed(1).padStart(8)} ms   stream+skip ${s.toFixed(1).padStart(8)} ms   ratio ${(s / r).toFixed(0)}×`,
  );
}

async function main(): Promise<void> {
  const { sizeMiB } = parseSizeArgs(process.argv.slice(2), 256);

  const work = await mkdtemp(join(tmpdir(), "sf-bench-log-"));
  try {
    const file = join(work, "build.log");
    await writeLog(file, sizeMiB * MiB);
    const size = sizeMiB * MiB;
    console.log(`log: ${sizeMiB} MiB of build output; tail: ${TAIL / 1024} KiB`);
    await using s3 = await startS3rver();
    await using s3store = await S3ArtifactStore.open(s3.config);
    await s3store.putLog(PATH, createReadStream(file));
    await compare(s3store, size);
    await using fs = await FsArtifactStore.open(join(work, "store"));
    await fs.putLog(PATH, createReadStream(file));
    await compare(fs, size);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
