/**
 * rewriteGpkgBuildId on real packages: the result reads back with the new BUILD_ID, basename
 * `<PF>-<id>` and a Manifest that verifies; the image member and every other metadata entry are
 * byte-identical; GNU tar reads the new container; the returned info equals a fresh read.
 * Refusals: signed packages, xpak, damaged sources, bad ids — leaving no output behind.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { readBinpkg, rewriteGpkgBuildId } from "../../shared/binpkg/index.js";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import {
  flipByte,
  memberBytes,
  memberDataOffset,
  writeGpkg,
  writeXpak,
  type TestCompression,
} from "../helpers/gpkg-writer.js";

function isError(code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, `expected a StagefarmError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** The files of a metadata member (decompressed by the system tool) → sha256 of each. */
async function metadataFiles(file: string, member: string, tool: string[]): Promise<Map<string, string>> {
  const compressed = await memberBytes(file, member);
  const tar =
    tool.length === 0
      ? compressed
      : (await execa(tool[0] ?? "", tool.slice(1), { input: compressed, encoding: "buffer" })).stdout;
  const dir = await mkdtemp(join(tmpdir(), "binpkg-meta-"));
  try {
    await execa("tar", ["-C", dir, "-xf", "-"], { input: Buffer.from(tar) });
    const out = new Map<string, string>();
    for (const name of await readdir(join(dir, "metadata"))) {
      out.set(name, sha256(await readFile(join(dir, "metadata", name))));
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const DECOMPRESS: Record<TestCompression, string[]> = {
  zst: ["zstd", "-d", "-c"],
  xz: ["xz", "-d", "-c"],
  bz2: ["bzip2", "-d", "-c"],
  gz: ["gzip", "-d", "-c"],
  lz4: ["lz4", "-d", "-c"],
  none: [],
};

const PKG = { category: "dev-libs", pf: "libsigc++-3.6.0" };

describe("rewriteGpkgBuildId", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "binpkg-rewrite-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const compression of ["zst", "xz", "bz2", "gz", "lz4", "none"] as TestCompression[]) {
    test(`${compression}: new BUILD_ID and basename, valid Manifest, image untouched`, async () => {
      const ext = compression === "none" ? "" : `.${compression}`;
      const src = await writeGpkg(join(dir, compression), {
        ...PKG,
        buildId: 1,
        compression,
        files: { "usr/lib64/libsigc-3.0.so.0": "\x7fELF fake\n" },
      });
      const out = join(dir, compression, "libsigc++-3.6.0-17.gpkg.tar");
      const returned = await rewriteGpkgBuildId(src, 17, out);

      const before = await readBinpkg(src);
      const after = await readBinpkg(out); // verifies the new Manifest in full
      assert.deepEqual(returned, after, "the returned info is what a fresh read finds");
      assert.equal(after.buildId, 17);
      assert.equal(after.basename, "libsigc++-3.6.0-17");
      assert.equal(after.metadata.BUILD_ID, "17");
      assert.deepEqual({ ...after.metadata, BUILD_ID: "1" }, before.metadata, "only BUILD_ID changed");
      assert.equal(after.compression, compression);
      assert.equal(after.signed, false);

      const listing = (await execa("tar", ["-tf", out])).stdout.split("\n");
      assert.deepEqual(listing, [
        "libsigc++-3.6.0-17/gpkg-1",
        `libsigc++-3.6.0-17/metadata.tar${ext}`,
        `libsigc++-3.6.0-17/image.tar${ext}`,
        "libsigc++-3.6.0-17/Manifest",
      ]);
      const imageBefore = await memberBytes(src, `libsigc++-3.6.0-1/image.tar${ext}`);
      const imageAfter = await memberBytes(out, `libsigc++-3.6.0-17/image.tar${ext}`);
      assert.equal(sha256(imageAfter), sha256(imageBefore), "the image member is copied byte for byte");

      const manifest = (await memberBytes(out, "libsigc++-3.6.0-17/Manifest")).toString();
      const oldManifest = (await memberBytes(src, "libsigc++-3.6.0-1/Manifest")).toString();
      const line = (text: string, name: string): string | undefined =>
        text.split("\n").find((l) => l.startsWith(`DATA ${name} `));
      assert.equal(line(manifest, `image.tar${ext}`), line(oldManifest, `image.tar${ext}`));
      assert.equal(line(manifest, "gpkg-1"), line(oldManifest, "gpkg-1"));
      assert.notEqual(line(manifest, `metadata.tar${ext}`), line(oldManifest, `metadata.tar${ext}`));

      const metaBefore = await metadataFiles(
        src,
        `libsigc++-3.6.0-1/metadata.tar${ext}`,
        DECOMPRESS[compression],
      );
      const metaAfter = await metadataFiles(
        out,
        `libsigc++-3.6.0-17/metadata.tar${ext}`,
        DECOMPRESS[compression],
      );
      assert.ok(metaAfter.has("environment.bz2"));
      assert.equal(
        metaAfter.get("environment.bz2"),
        metaBefore.get("environment.bz2"),
        "binary entries kept",
      );
      metaBefore.delete("BUILD_ID");
      metaAfter.delete("BUILD_ID");
      assert.deepEqual(metaAfter, metaBefore);
    });
  }

  test("a package without BUILD_ID gets one; rewriting in place works", async () => {
    const src = await writeGpkg(join(dir, "noid"), { ...PKG });
    assert.equal((await readBinpkg(src)).buildId, undefined);
    await rewriteGpkgBuildId(src, 5, src);
    const info = await readBinpkg(src);
    assert.equal(info.buildId, 5);
    assert.equal(info.basename, "libsigc++-3.6.0-5");
    assert.deepEqual(
      await readdir(join(dir, "noid")),
      ["libsigc++-3.6.0.gpkg.tar"],
      "no temporary file left",
    );
  });

  test("a rewritten package can be rewritten again", async () => {
    const src = await writeGpkg(join(dir, "twice"), { ...PKG, buildId: 1, order: "reversed" });
    const mid = join(dir, "twice", "mid.gpkg.tar");
    const out = join(dir, "twice", "out.gpkg.tar");
    await rewriteGpkgBuildId(src, 2, mid);
    await rewriteGpkgBuildId(mid, 3, out);
    const info = await readBinpkg(out);
    assert.equal(info.buildId, 3);
    assert.deepEqual(
      info.members.map((m) => m.name),
      ["image.tar.zst", "metadata.tar.zst", "gpkg-1", "Manifest"],
      "members keep their order; the Manifest is written last",
    );
  });

  test("a signed package is refused: re-signing needs the key", async () => {
    const src = await writeGpkg(join(dir, "signed"), { ...PKG, buildId: 1, signed: true });
    const out = join(dir, "signed", "out.gpkg.tar");
    await assert.rejects(rewriteGpkgBuildId(src, 2, out), isError("invalid_argument", src, "signed"));
    assert.deepEqual(await readdir(join(dir, "signed")), ["libsigc++-3.6.0-1.gpkg.tar"]);
  });

  test("a damaged source is refused and nothing is written", async () => {
    const src = await writeGpkg(join(dir, "damaged"), { ...PKG, buildId: 1 });
    const { offset } = await memberDataOffset(src, "image.tar.zst");
    await flipByte(src, offset + 3);
    const out = join(dir, "damaged", "out.gpkg.tar");
    await assert.rejects(rewriteGpkgBuildId(src, 2, out), isError("corrupt_artifact", "image.tar.zst"));
    assert.deepEqual(await readdir(join(dir, "damaged")), ["libsigc++-3.6.0-1.gpkg.tar"]);
  });

  test("a destination that cannot be written is named in the error; nothing is left", async () => {
    const src = await writeGpkg(join(dir, "nowhere"), { ...PKG, buildId: 1 });
    const out = join(dir, "nowhere", "missing-dir", "out.gpkg.tar");
    await assert.rejects(rewriteGpkgBuildId(src, 2, out), isError("not_found", `cannot write ${out}`));
    assert.deepEqual(await readdir(join(dir, "nowhere")), ["libsigc++-3.6.0-1.gpkg.tar"]);
  });

  test("an abort at any point cancels and leaves no output or temporary file", async () => {
    const src = await writeGpkg(join(dir, "abort"), {
      ...PKG,
      buildId: 1,
      randomFiles: { "big.bin": 24 << 20 },
    });
    for (const afterMs of [0, 20, 80]) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), afterMs);
      try {
        await assert.rejects(
          rewriteGpkgBuildId(src, 2, join(dir, "abort", "out.gpkg.tar"), { signal: ac.signal }),
          isError("cancelled"),
        );
      } finally {
        clearTimeout(timer);
      }
      assert.deepEqual(await readdir(join(dir, "abort")), ["libsigc++-3.6.0-1.gpkg.tar"]);
    }
  });

  test("an abort while the new container is being written removes the temporary file", async () => {
    const src = await writeGpkg(join(dir, "abort2"), {
      ...PKG,
      buildId: 1,
      randomFiles: { "big.bin": 48 << 20 },
    });
    const ac = new AbortController();
    const rewriting = rewriteGpkgBuildId(src, 2, join(dir, "abort2", "out.gpkg.tar"), { signal: ac.signal });
    const outcome = rewriting.then(
      () => "finished",
      (err: unknown) => err,
    );
    const deadline = Date.now() + 30_000;
    let sawTemp = false;
    while (!sawTemp && Date.now() < deadline) {
      sawTemp = (await readdir(join(dir, "abort2"))).some((n) => n.startsWith(".out.gpkg.tar."));
      if (!sawTemp) await new Promise((r) => setImmediate(r));
    }
    assert.ok(sawTemp, "the temporary output appeared");
    ac.abort();
    const err = await outcome;
    assert.ok(isError("cancelled")(err));
    assert.deepEqual(await readdir(join(dir, "abort2")), ["libsigc++-3.6.0-1.gpkg.tar"]);
  });

  test("xpak packages and ids that are not positive integers are invalid_argument", async () => {
    const xpak = await writeXpak(join(dir, "xpak"), { ...PKG, buildId: 1 });
    await assert.rejects(
      rewriteGpkgBuildId(xpak, 2, join(dir, "xpak", "o")),
      isError("invalid_argument", "xpak"),
    );
    const src = await writeGpkg(join(dir, "ids"), { ...PKG });
    for (const id of [0, -1, 1.5, Number.NaN])
      await assert.rejects(
        rewriteGpkgBuildId(src, id, join(dir, "ids", "o")),
        isError("invalid_argument", "BUILD_ID"),
      );
  });
});
