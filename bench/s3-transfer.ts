/**
 * S3 transfer throughput: the S3 artifact store's putBlobFile / getBlobToFile (hash first, then
 * upload; download through the verifying stream into a temp file, then rename) against the bare
 * minio client's fPutObject / fGetObject of the same file, on s3rver (started by the test
 * harness, in a child process, on loopback).
 *
 * Usage: node dist/bench/s3-transfer.js [--size-mib N] (default 1024)
 *
 * The file is random (incompressible) bytes. Each method runs twice, alternating; the best run
 * of each is compared, and the ratios store/bare are printed. `sync` runs between runs, outside
 * the timing, so no run pays for writing back the previous one's dirty pages. The bare client
 * keeps minio's defaults (64 MiB parts); the store uses its own (16 MiB). Temp dirs and the
 * server are removed at the end, also on Ctrl-C.
 */
import { parseSizeArgs } from "./args.js";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { finished } from "node:stream/promises";
import { execa } from "execa";
import { Client } from "minio";
import { sha256File } from "../shared/digest.js";
import { StagefarmError } from "../shared/errors.js";
import { S3ArtifactStore } from "../shared/store/testing.js";
import { startS3rver } from "../test/helpers/s3rver.js";

const MiB = 1 << 20;

async function writeRandom(file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  for (let done = 0; done < bytes; done += MiB) {
    if (!out.write(randomBytes(Math.min(MiB, bytes - done))))
      await new Promise<void>((r) => out.once("drain", () => r()));
  }
  out.end();
  await finished(out);
}

type Method = "bare put" | "store put" | "bare get" | "store get";

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const { sizeMiB } = parseSizeArgs(process.argv.slice(2));
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once("SIGINT", onSigint);
  const work = await mkdtemp(join(tmpdir(), "sf-bench-s3-"));
  try {
    const file = join(work, "blob.bin");
    await writeRandom(file, sizeMiB * MiB);
    const { digest } = await sha256File(file);
    await using s3 = await startS3rver();
    await using store = await S3ArtifactStore.open(s3.config);
    const cfg = s3.config;
    const bare = new Client({
      endPoint: cfg.endPoint,
      port: cfg.port,
      useSSL: cfg.useSSL,
      accessKey: cfg.accessKey,
      secretKey: cfg.secretKey,
      region: cfg.region,
    });
    const sync = (): Promise<unknown> => execa("sync", [], { cancelSignal: ac.signal });
    const runs: Array<{ method: Method; seconds: number }> = [];
    const run = async (method: Method, fn: () => Promise<unknown>): Promise<void> => {
      if (ac.signal.aborted) throw new StagefarmError("cancelled", "interrupted");
      await sync();
      runs.push({ method, seconds: await timed(fn) });
    };
    console.log(`file: ${sizeMiB} MiB of random bytes; server: ${store.describe} (s3rver, loopback)`);
    for (let i = 0; i < 2; i++) {
      await run("bare put", () => bare.fPutObject(cfg.bucket, "bare/blob.bin", file));
      await run("store put", () => store.putBlobFile(file, { signal: ac.signal }));
      const bareOut = join(work, `bare-${i}.bin`);
      await run("bare get", () => bare.fGetObject(cfg.bucket, "bare/blob.bin", bareOut));
      const storeOut = join(work, `store-${i}.bin`);
      await run("store get", () => store.getBlobToFile(digest, storeOut, ac.signal));
      for (const out of [bareOut, storeOut]) {
        if ((await stat(out)).size !== sizeMiB * MiB)
          throw new StagefarmError("internal", `${out} has the wrong size after download`);
        await rm(out);
      }
    }
    for (const r of runs)
      console.log(
        `${r.method.padEnd(9)} ${r.seconds.toFixed(2).padStart(7)} s  ${(sizeMiB / r.seconds).toFixed(1).padStart(7)} MiB/s`,
      );
    const best = (m: Method): number =>
      sizeMiB / Math.min(...runs.filter((r) => r.method === m).map((r) => r.seconds));
    const result = {
      bench: "s3-transfer",
      sizeMiB,
      barePutMiBps: best("bare put"),
      storePutMiBps: best("store put"),
      bareGetMiBps: best("bare get"),
      storeGetMiBps: best("store get"),
    };
    console.log(
      `put: bare fPutObject ${result.barePutMiBps.toFixed(1)} MiB/s, store putBlobFile ${result.storePutMiBps.toFixed(1)} MiB/s, ratio ${(result.storePutMiBps / result.barePutMiBps).toFixed(3)} (best of 2)`,
    );
    console.log(
      `get: bare fGetObject ${result.bareGetMiBps.toFixed(1)} MiB/s, store getBlobToFile ${result.storeGetMiBps.toFixed(1)} MiB/s, ratio ${(result.storeGetMiBps / result.bareGetMiBps).toFixed(3)} (best of 2)`,
    );
    console.log(JSON.stringify(result));
  } finally {
    process.off("SIGINT", onSigint);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  const e = StagefarmError.from(err);
  console.error(`s3-transfer: ${e.code}: ${e.message}`);
  process.exitCode = 1;
});
