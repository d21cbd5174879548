/**
 * `stagefarm diff` memory: diffs a generated tree of `--size-mib` MiB (default 1024: one
 * 256 MiB file, the rest in 1 MiB files, a fake vdb owning them) as a directory against the
 * same tree packed to `.tar.zst` with one file changed, in this process, and prints the peak
 * RSS next to the tree size. Content streams through sha256, so the peak must not grow with
 * the tree's bytes (only with its entry count): the target is a peak under 256 MiB for 1 GiB.
 *
 * Usage: node dist/bench/diff-memory.js [--size-mib N]
 */
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { execa } from "execa";
import { compareTrees, indexSource, summaryLine } from "../shared/diff/index.js";
import { parseSizeArgs } from "./args.js";

const MiB = 1 << 20;

async function writeBig(file: string, mib: number, seed: Buffer): Promise<void> {
  const out = createWriteStream(file);
  for (let i = 0; i < mib; i++) {
    const chunk = Buffer.concat([seed, Buffer.alloc(MiB - seed.length, i & 0xff)]);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  out.end();
  await finished(out);
}

async function main(): Promise<void> {
  const { sizeMiB } = parseSizeArgs(process.argv.slice(2));
  const work = await mkdtemp(join(tmpdir(), "sf-diff-bench-"));
  try {
    const root = join(work, "root");
    const big = Math.min(256, Math.floor(sizeMiB / 4));
    const small = sizeMiB - big;
    await mkdir(join(root, "usr/share/data"), { recursive: true });
    await writeBig(join(root, "usr/share/data/big.bin"), big, randomBytes(4096));
    const contents: string[] = [];
    for (let i = 0; i < small; i++) {
      const body = Buffer.concat([randomBytes(64 << 10), Buffer.alloc(MiB - (64 << 10), i & 0xff)]);
      const rel = `usr/share/data/f${i}.bin`;
      await writeFile(join(root, rel), body);
      contents.push(`obj /${rel} ${createHash("md5").update(body).digest("hex")} 1700000000`);
    }
    await mkdir(join(root, "var/db/pkg/app-misc/data-1"), { recursive: true });
    await writeFile(join(root, "var/db/pkg/app-misc/data-1/CONTENTS"), `${contents.join("\n")}\n`);
    const archive = join(work, "root.tar.zst");
    await execa("tar", [
      "--create",
      "--zstd",
      "--format=posix",
      "--sort=name",
      `--file=${archive}`,
      "-C",
      root,
      ".",
    ]);
    await writeFile(join(root, "usr/share/data/f0.bin"), "changed\n");

    const before = process.memoryUsage().rss;
    const started = performance.now();
    const [a, b] = await Promise.all([
      indexSource({ t: "dir", dir: root, label: "directory" }, {}),
      indexSource({ t: "archive", file: archive, label: "root.tar.zst" }, {}),
    ]);
    const report = compareTrees(a, b, { normalize: false });
    const seconds = (performance.now() - started) / 1000;
    const peakMiB = process.resourceUsage().maxRSS / 1024;
    console.log(summaryLine(report));
    console.log(
      JSON.stringify({
        treeMiB: sizeMiB,
        entries: a.entries.size,
        rssBeforeMiB: Math.round(before / MiB),
        peakRssMiB: Math.round(peakMiB),
        seconds: Math.round(seconds * 10) / 10,
        throughputMiBs: Math.round((2 * sizeMiB) / seconds),
      }),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
