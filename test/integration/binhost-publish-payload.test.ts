/**
 * Packages portage could not extract are not admitted (issue 16, item 3): the binhost reads the
 * payload through (a gpkg's image archive, an xpak's tarball: decompressed by the package's own
 * compressor, walked as a tar to its end) before a package enters the index. Real packages from
 * test/helpers/gpkg-writer.ts (GNU tar, the system compressors), damaged the ways portage then
 * fails on ("Data corruption detected", "Error extracting"); good ones in every compression are
 * still published.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { execa } from "execa";
import { parsePackages } from "../../shared/binhost/index.js";
import { readBinpkg } from "../../shared/binpkg/index.js";
import { BinhostBench } from "../helpers/binhost-harness.js";
import { refused } from "../helpers/binhost-refusal.js";
import { flipByte, writeXpak, type TestCompression } from "../helpers/gpkg-writer.js";

async function zstd(data: Buffer): Promise<Buffer> {
  return Buffer.from((await execa("zstd", ["-q", "-c"], { input: data, encoding: "buffer" })).stdout);
}

async function unzstd(data: Buffer): Promise<Buffer> {
  return Buffer.from((await execa("zstd", ["-q", "-d", "-c"], { input: data, encoding: "buffer" })).stdout);
}

void describe("binhost publication: the payload must be extractable", () => {
  void test("an xpak whose compressed tarball has one corrupt byte is refused, naming the package and why", async () => {
    await using bench = await BinhostBench.create();
    const file = await writeXpak(bench.pkgDir(), {
      category: "app-misc",
      pf: "flip-1",
      buildId: 1,
      randomFiles: { "usr/lib/blob": 200_000 },
    });
    // The XPAK segment and trailer are untouched: the metadata still reads.
    assert.equal((await readBinpkg(file)).cpv, "app-misc/flip-1");
    await flipByte(file, 100_000);
    assert.equal((await readBinpkg(file)).cpv, "app-misc/flip-1", "the metadata alone does not see it");
    const e = await refused(
      bench.service.publish("h", [await bench.upload(file)]),
      "corrupt_artifact",
      /binhost "h": package sha256:[0-9a-f]{12} refused: the tarball .*cannot be extracted.*bzip2 -d cannot decompress it/,
    );
    assert.equal(e.details?.digest !== undefined, true);
    assert.equal(await bench.indexText("h"), undefined, "nothing was published");
  });

  void test("a gpkg whose image is garbage under a matching Manifest is refused", async () => {
    await using bench = await BinhostBench.create();
    // Not zstd at all.
    const garbage = await bench.gpkg({
      category: "app-misc",
      pf: "garbage-1",
      buildId: 1,
      imageMember: () => randomBytes(4096),
    });
    await refused(
      bench.service.publish("h", [garbage]),
      "corrupt_artifact",
      /the image archive image\.tar\.zst cannot be extracted.*zstd -d cannot decompress it/,
    );
    // Valid zstd, but not a tar inside.
    const notTar = await bench.gpkg({
      category: "app-misc",
      pf: "nottar-1",
      buildId: 1,
      imageMember: () => zstd(Buffer.from("this is no tar archive\n".repeat(100))),
    });
    await refused(
      bench.service.publish("h", [notTar]),
      "corrupt_artifact",
      /image\.tar\.zst .*not a tar archive/,
    );
    // Valid zstd of a tar cut in the middle of a file's data.
    const cut = await bench.gpkg({
      category: "app-misc",
      pf: "cut-1",
      buildId: 1,
      randomFiles: { "usr/lib/blob": 100_000 },
      imageMember: async (b) => zstd((await unzstd(b)).subarray(0, 50_000)),
    });
    await refused(bench.service.publish("h", [cut]), "corrupt_artifact", /image\.tar\.zst .*truncated/);
    // Valid zstd of a tar whose second header is damaged (tarfile would stop there silently).
    const badHeader = await bench.gpkg({
      category: "app-misc",
      pf: "hdr-1",
      buildId: 1,
      files: { a: "x".repeat(100), b: "y" },
      imageMember: async (b) => {
        const tar = await unzstd(b);
        // image/ (512), image/a (512 + 512 data): the header of image/b starts at 1536.
        tar[1536 + 10] = (tar[1536 + 10] ?? 0) ^ 0x01;
        return zstd(tar);
      },
    });
    await refused(
      bench.service.publish("h", [badHeader]),
      "corrupt_artifact",
      /damaged: its checksum is wrong/,
    );
    assert.equal(await bench.indexText("h"), undefined, "nothing was published");
  });

  void test("valid gpkg and xpak packages in every compression are still published", async () => {
    await using bench = await BinhostBench.create();
    const kinds: TestCompression[] = ["zst", "xz", "bz2", "gz", "lz4", "none"];
    const refs = [];
    for (const c of kinds) {
      refs.push(await bench.gpkg({ category: "app-misc", pf: `g${c}-1`, buildId: 1, compression: c }));
      refs.push(await bench.xpak({ category: "app-misc", pf: `x${c}-1`, buildId: 1, compression: c }));
    }
    // Trailing zeros: GNU tar pads to a 10 KiB record; one more record of zeros on top.
    const padded = await bench.gpkg({
      category: "app-misc",
      pf: "padded-1",
      buildId: 1,
      imageMember: async (b) => zstd(Buffer.concat([await unzstd(b), Buffer.alloc(10240)])),
    });
    refs.push(padded);
    // An in-process (tar-stream) package, and a bigger one with a sparse-free random payload.
    refs.push(await bench.quick({ category: "app-misc", pf: "quick-1", buildId: 1 }));
    const big = await bench.gpkg({
      category: "app-misc",
      pf: "big-1",
      buildId: 1,
      randomFiles: { "usr/lib/big": 8 << 20 },
    });
    assert.ok((await stat(big.file)).size > 8 << 20);
    refs.push(big);
    const r = await bench.service.publish("h", refs);
    assert.equal(r.packages.filter((p) => !p.duplicate).length, refs.length);
    assert.equal(parsePackages((await bench.indexText("h")) ?? "").packages.length, refs.length);
  });
});
