/**
 * The strict payload tar walk accepts what the packers portage uses write (GNU tar in its gnu
 * and pax formats with long names and sparse files, Python's tarfile in pax and gnu
 * format), and refuses what the extractors would fail on. Real archives made by those tools.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { readThrough } from "../../shared/binpkg/testing.js";

let dir = "";
let tree = "";

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "payload-tar-"));
  tree = join(dir, "tree");
  const deep = join(tree, "usr", "share", "a".repeat(90), "b".repeat(90));
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, `${"c".repeat(120)}.txt`), "long name\n");
  await writeFile(join(tree, "usr", "small"), "x");
  // A sparse file with many holes: GNU tar's old sparse format needs extension blocks for it.
  const sparse = join(tree, "usr", "sparse");
  await execa("sh", [
    "-c",
    'for i in $(seq 0 9); do printf data | dd of="$1" bs=1 seek=$((i * 65536)) conv=notrunc 2>/dev/null; done',
    "sh",
    sparse,
  ]);
  await execa("ln", ["-s", "small", join(tree, "usr", "link")]);
  await execa("ln", [join(tree, "usr", "small"), join(tree, "usr", "hard")]);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function gnuTar(format: string, extra: string[] = []): Promise<string> {
  const out = join(dir, `${format}${extra.join("")}.tar`);
  await execa("tar", ["-C", tree, `--format=${format}`, ...extra, "-cf", out, "."]);
  return out;
}

async function pythonTar(format: "PAX_FORMAT" | "GNU_FORMAT"): Promise<string> {
  const out = join(dir, `py-${format}.tar`);
  await execa("python3", [
    "-c",
    `import tarfile,sys\nwith tarfile.open(sys.argv[1], "w", format=tarfile.${format}) as t: t.add(sys.argv[2], arcname="image")`,
    out,
    tree,
  ]);
  return out;
}

void describe("payload tar walk", () => {
  void test("accepts GNU tar (gnu, pax, sparse files, long names, links) and Python tarfile (pax, gnu) archives", async () => {
    const archives = [
      await gnuTar("gnu"),
      await gnuTar("gnu", ["--sparse"]),
      await gnuTar("pax"),
      await gnuTar("pax", ["--sparse"]),
      await pythonTar("PAX_FORMAT"),
      await pythonTar("GNU_FORMAT"),
    ];
    for (const a of archives) {
      await readThrough(createReadStream(a), "none", undefined);
      const xz = await execa("xz", ["-c", a], { encoding: "buffer" });
      await writeFile(`${a}.xz`, xz.stdout);
      await readThrough(createReadStream(`${a}.xz`), "xz", undefined);
    }
  });

  void test("refuses an empty stream, a cut archive and a damaged header", async () => {
    const a = await gnuTar("gnu");
    const bytes = (await execa("cat", [a], { encoding: "buffer" })).stdout;
    const empty = join(dir, "empty");
    await writeFile(empty, Buffer.alloc(10240));
    await assert.rejects(readThrough(createReadStream(empty), "none", undefined), /holds no entries/);
    const cut = join(dir, "cut");
    await writeFile(cut, bytes.subarray(0, 512 * 3 + 100));
    await assert.rejects(readThrough(createReadStream(cut), "none", undefined), /truncated/);
    const damaged = Buffer.from(bytes);
    damaged[512 + 0] = (damaged[512] ?? 0) ^ 0x20; // the second header's name: its checksum no longer adds up
    const dmg = join(dir, "damaged");
    await writeFile(dmg, damaged);
    await assert.rejects(readThrough(createReadStream(dmg), "none", undefined), /checksum is wrong/);
  });
});
