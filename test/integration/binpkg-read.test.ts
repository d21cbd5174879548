/**
 * readBinpkg against real packages written with GNU tar and the system compressors
 * (test/helpers/gpkg-writer.ts): every member compression, the metadata round trip, file
 * digests, out-of-order members, signatures noticed, and refusals: a damaged image byte, a
 * wrong Manifest size, a member missing from or unknown to the Manifest, an undecompressable
 * metadata member, truncation, files that are no package, metadata without CATEGORY or PF.
 * Legacy xpak packages too. Memory stays small on a large image.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, truncate, writeFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { readBinpkg } from "../../shared/binpkg/index.js";
import { StagefarmError, type ErrorCode } from "../../shared/errors.js";
import {
  DEFAULT_BUILD_TIME,
  flipByte,
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

async function fileHash(path: string, algo: string): Promise<string> {
  return createHash(algo)
    .update(await readFile(path))
    .digest("hex");
}

const PKG = { category: "app-shells", pf: "bash-5.2_p26" };

describe("readBinpkg", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "binpkg-read-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // First, while the process's peak RSS is still low.
  test("a 96 MiB image is hashed without being held in memory", async () => {
    const file = await writeGpkg(join(dir, "big"), {
      ...PKG,
      buildId: 1,
      compression: "zst",
      randomFiles: { "usr/lib/big.bin": 96 << 20 },
    });
    const before = process.resourceUsage().maxRSS;
    const info = await readBinpkg(file);
    const grewKiB = process.resourceUsage().maxRSS - before;
    assert.ok(info.size > 96 << 20);
    assert.equal(info.sha256, await fileHash(file, "sha256"));
    assert.ok(
      grewKiB < 48 * 1024,
      `peak RSS grew by ${grewKiB} KiB while reading a ${info.size}-byte package`,
    );
  });

  for (const compression of ["zst", "xz", "bz2", "gz", "lz4", "none"] as TestCompression[]) {
    test(`gpkg with ${compression} members: metadata, basename, digests`, async () => {
      const file = await writeGpkg(join(dir, compression), {
        ...PKG,
        buildId: 3,
        compression,
        buildTime: 1_712_345_678,
        metadata: {
          RDEPEND: ">=sys-libs/ncurses-6:0=\n\tsys-libs/readline:0=",
          IUSE: "+net nls -plugins",
          PROVIDES: "x86_64: libbash.so.5",
          REQUIRES: "x86_64: libc.so.6 libncursesw.so.6",
        },
        files: { "bin/bash": "#!/bin/true\n", "usr/share/doc/bash/README": "read me\n" },
      });
      const info = await readBinpkg(file);
      assert.equal(info.format, "gpkg");
      assert.equal(info.basename, "bash-5.2_p26-3");
      assert.equal(info.compression, compression);
      assert.equal(info.metadataCompression, compression);
      assert.equal(info.signed, false);
      assert.equal(info.category, "app-shells");
      assert.equal(info.pf, "bash-5.2_p26");
      assert.equal(info.cpv, "app-shells/bash-5.2_p26");
      assert.equal(info.buildId, 3);
      assert.equal(info.buildTime, 1_712_345_678);
      const ext = compression === "none" ? "" : `.${compression}`;
      assert.deepEqual(
        info.members.map((m) => m.name),
        ["gpkg-1", `metadata.tar${ext}`, `image.tar${ext}`, "Manifest"],
      );
      assert.equal(info.members[0]?.size, 0);

      const m = info.metadata;
      assert.equal(
        m.RDEPEND,
        ">=sys-libs/ncurses-6:0=\n\tsys-libs/readline:0=",
        "stored text, inner newlines kept",
      );
      assert.equal(m.IUSE, "+net nls -plugins");
      assert.equal(m.PROVIDES, "x86_64: libbash.so.5");
      assert.equal(m.REQUIRES, "x86_64: libc.so.6 libncursesw.so.6");
      assert.equal(m.SLOT, "0");
      assert.equal(m.EAPI, "8");
      assert.equal(m.KEYWORDS, "amd64");
      assert.equal(m.repository, "gentoo");
      assert.equal(m.CHOST, "x86_64-pc-linux-gnu");
      assert.equal(m.DEPEND, "", "an empty key is present and empty");
      assert.equal(m.BUILD_ID, "3");
      assert.equal(m["environment.bz2"], undefined, "binary metadata is left out");

      const { size } = await stat(file);
      assert.equal(info.size, size);
      assert.equal(info.md5, await fileHash(file, "md5"));
      assert.equal(info.sha1, await fileHash(file, "sha1"));
      assert.equal(info.sha256, await fileHash(file, "sha256"));
    });
  }

  test("a package without BUILD_ID: basename is the PF, no buildId", async () => {
    const file = await writeGpkg(join(dir, "no-id"), { ...PKG });
    const info = await readBinpkg(file);
    assert.equal(info.basename, "bash-5.2_p26");
    assert.equal(info.buildId, undefined);
    assert.equal(info.buildTime, DEFAULT_BUILD_TIME);
    assert.equal("BUILD_ID" in info.metadata, false);
  });

  test("members out of order and a basename that differs from the file name are accepted", async () => {
    const file = await writeGpkg(join(dir, "reversed"), {
      ...PKG,
      buildId: 2,
      order: "reversed",
      fileName: "renamed.gpkg.tar",
    });
    const info = await readBinpkg(file);
    assert.equal(info.basename, "bash-5.2_p26-2");
    assert.deepEqual(
      info.members.map((m) => m.name),
      ["Manifest", "image.tar.zst", "metadata.tar.zst", "gpkg-1"],
    );
    assert.equal(info.buildId, 2);
  });

  test("a signed package (.sig members, clear-signed Manifest) reads as signed", async () => {
    const file = await writeGpkg(join(dir, "signed"), { ...PKG, buildId: 1, signed: true });
    const info = await readBinpkg(file);
    assert.equal(info.signed, true);
    assert.ok(info.members.some((m) => m.name === "image.tar.zst.sig"));
    assert.equal(info.pf, "bash-5.2_p26");
  });

  test("one damaged byte of the image is a hash mismatch naming the member", async () => {
    const file = await writeGpkg(join(dir, "flip"), { ...PKG, buildId: 1 });
    const { offset, size } = await memberDataOffset(file, "image.tar.zst");
    await flipByte(file, offset + Math.floor(size / 2));
    await assert.rejects(
      readBinpkg(file),
      isError("corrupt_artifact", file, "member image.tar.zst", "mismatch: the Manifest says"),
    );
  });

  test("a Manifest size that differs from the member's is refused with both sizes", async () => {
    const file = await writeGpkg(join(dir, "size"), {
      ...PKG,
      buildId: 1,
      manifest: (text) =>
        text.replace(/^(DATA image\.tar\.zst )(\d+)/m, (_m, a: string, n: string) => `${a}${Number(n) + 1}`),
    });
    const imageSize = (await memberDataOffset(file, "image.tar.zst")).size;
    await assert.rejects(
      readBinpkg(file),
      isError(
        "corrupt_artifact",
        "member image.tar.zst: size mismatch",
        `the Manifest says ${imageSize + 1} bytes, the member has ${imageSize}`,
      ),
    );
  });

  test("a member the Manifest does not list, and a listed member that is absent, are refused", async () => {
    const unlisted = await writeGpkg(join(dir, "unlisted"), {
      ...PKG,
      manifest: (text) => text.replace(/^DATA image\.tar\.zst .*\n/m, ""),
    });
    await assert.rejects(
      readBinpkg(unlisted),
      isError("corrupt_artifact", "image.tar.zst is not listed in the Manifest"),
    );
    const ghost = await writeGpkg(join(dir, "ghost"), {
      ...PKG,
      manifest: (text) => `${text}DATA extra.bin 1 SHA512 ${"0".repeat(128)}\n`,
    });
    await assert.rejects(readBinpkg(ghost), isError("corrupt_artifact", "the Manifest lists extra.bin"));
  });

  test("a metadata member that does not decompress is refused (its Manifest entry matches)", async () => {
    const file = await writeGpkg(join(dir, "badmeta"), {
      ...PKG,
      compression: "xz",
      metadataMember: (bytes) => Buffer.concat([bytes.subarray(0, 12), Buffer.from("garbage, not xz")]),
    });
    await assert.rejects(
      readBinpkg(file),
      isError("corrupt_artifact", "member metadata.tar.xz cannot be read", "xz"),
    );
  });

  test("a truncated package is refused as truncated", async () => {
    const file = await writeGpkg(join(dir, "trunc"), {
      ...PKG,
      buildId: 1,
      randomFiles: { "a.bin": 200_000 },
    });
    const { offset } = await memberDataOffset(file, "image.tar.zst");
    await truncate(file, offset + 1000);
    await assert.rejects(readBinpkg(file), isError("corrupt_artifact", file, "truncated"));
  });

  test("a package cut after a whole member has no Manifest and is refused", async () => {
    const file = await writeGpkg(join(dir, "cut"), { ...PKG, buildId: 1 });
    const { offset } = await memberDataOffset(file, "Manifest");
    await truncate(file, offset - 512);
    await assert.rejects(readBinpkg(file), isError("corrupt_artifact", "no Manifest member"));
  });

  test("files that are no package: text, an empty file, a plain tar, a missing file", async () => {
    const text = join(dir, "text.gpkg.tar");
    await writeFile(text, "this is not a tar archive\n".repeat(100));
    await assert.rejects(readBinpkg(text), isError("corrupt_artifact", text, "neither a gpkg"));

    const empty = join(dir, "empty.gpkg.tar");
    await writeFile(empty, "");
    await assert.rejects(readBinpkg(empty), isError("corrupt_artifact", "empty"));

    const src = join(dir, "plain-src", "pkg");
    await execa("mkdir", ["-p", src]);
    await writeFile(join(src, "README"), "hi\n");
    const plain = join(dir, "plain.gpkg.tar");
    await execa("tar", ["-C", join(dir, "plain-src"), "--format=ustar", "-cf", plain, "pkg/README"]);
    await assert.rejects(readBinpkg(plain), isError("corrupt_artifact", "not a gpkg: no gpkg-1 member"));

    await assert.rejects(readBinpkg(join(dir, "absent.gpkg.tar")), isError("not_found", "absent.gpkg.tar"));
  });

  test("metadata without CATEGORY or PF is invalid_argument", async () => {
    const noCat = await writeGpkg(join(dir, "nocat"), { ...PKG, omitKeys: ["CATEGORY"] });
    await assert.rejects(readBinpkg(noCat), isError("invalid_argument", noCat, "no CATEGORY"));
    const noPf = await writeGpkg(join(dir, "nopf"), { ...PKG, omitKeys: ["PF"], fileName: "x.gpkg.tar" });
    await assert.rejects(readBinpkg(noPf), isError("invalid_argument", "no PF"));
    const badId = await writeGpkg(join(dir, "badid"), { ...PKG, metadata: { BUILD_ID: "seven" } });
    await assert.rejects(readBinpkg(badId), isError("invalid_argument", 'BUILD_ID is "seven"'));
  });

  test("an aborted signal cancels", async () => {
    const file = await writeGpkg(join(dir, "abort"), { ...PKG });
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(readBinpkg(file, { signal: ac.signal }), isError("cancelled"));
  });

  test("legacy xpak: tbz2 and zstd .xpak", async () => {
    const tbz2 = await writeXpak(join(dir, "xpak"), { ...PKG, metadata: { USE: "nls readline" } });
    const a = await readBinpkg(tbz2);
    assert.equal(a.format, "xpak");
    assert.equal(a.basename, undefined);
    assert.equal(a.compression, "bz2");
    assert.equal(a.cpv, "app-shells/bash-5.2_p26");
    assert.equal(a.buildId, undefined);
    assert.equal(a.metadata.USE, "nls readline");
    assert.equal(a.metadata["environment.bz2"], undefined);
    assert.equal(a.sha256, await fileHash(tbz2, "sha256"));
    assert.equal(a.md5, await fileHash(tbz2, "md5"));
    assert.equal(a.size, (await stat(tbz2)).size);

    const xpak = await writeXpak(join(dir, "xpak"), { ...PKG, buildId: 4, compression: "zst" });
    const b = await readBinpkg(xpak);
    assert.equal(b.compression, "zst");
    assert.equal(b.buildId, 4);
    assert.equal(b.buildTime, DEFAULT_BUILD_TIME);
  });

  test("xpak: a damaged segment length and a missing CATEGORY are refused", async () => {
    const file = await writeXpak(join(dir, "xpak-bad"), { ...PKG, buildId: 1 });
    const bytes = await readFile(file);
    const segLen = bytes.readUInt32BE(bytes.length - 8);
    const seg = bytes.length - 8 - segLen;
    bytes.writeUInt32BE(bytes.readUInt32BE(seg + 8) + 5, seg + 8); // index length
    await writeFile(file, bytes);
    await assert.rejects(
      readBinpkg(file),
      isError("corrupt_artifact", "invalid XPAK segment", "do not fill"),
    );

    const huge = Buffer.from(bytes);
    huge.writeUInt32BE(0x7fffffff, huge.length - 8);
    await writeFile(file, huge);
    await assert.rejects(readBinpkg(file), isError("corrupt_artifact", "the XPAK trailer gives a segment"));

    const noCat = await writeXpak(join(dir, "xpak-nocat"), { ...PKG, omitKeys: ["CATEGORY"] });
    await assert.rejects(readBinpkg(noCat), isError("invalid_argument", "no CATEGORY"));
  });
});
