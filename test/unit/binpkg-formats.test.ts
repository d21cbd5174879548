/**
 * The pure parts of the binpkg reader: Manifest parsing (plain and clear-signed) and checking,
 * Manifest lines, XPAK segments, member names and compression magic, index values.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  compressionFromMagic,
  splitArchiveName,
  archiveName,
  memberDigestsOf,
  entryLine,
  manifestLine,
  manifestMismatch,
  parseManifest,
  indexValue,
  metadataText,
  encodeXpakSegment,
  isXpakTrailer,
  parseXpakSegment,
} from "../../shared/binpkg/testing.js";

const EMPTY_BLAKE2B =
  "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce";
const EMPTY_SHA512 =
  "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

describe("Manifest", () => {
  test("parses DATA lines with any number of hashes, in any order", () => {
    const m = parseManifest(
      `DATA gpkg-1 0 BLAKE2B ${EMPTY_BLAKE2B} SHA512 ${EMPTY_SHA512}\n` +
        `DATA image.tar.zst 12 SHA512 ${"AB".repeat(64)} BLAKE2B ${"cd".repeat(64)}\n\n`,
    );
    assert.equal(m.clearSigned, false);
    assert.deepEqual([...m.entries.keys()], ["gpkg-1", "image.tar.zst"]);
    const image = m.entries.get("image.tar.zst");
    assert.equal(image?.size, 12);
    assert.equal(image?.hashes.get("SHA512"), "ab".repeat(64), "hex is lowercased");
    assert.equal(image?.hashes.get("BLAKE2B"), "cd".repeat(64));
  });

  test("takes the signed text out of a clear-signed message, undoing dash-escapes", () => {
    const text =
      "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" +
      `DATA gpkg-1 0 SHA512 ${EMPTY_SHA512}\n` +
      `- DATA image.tar 3 SHA512 ${"00".repeat(64)}\n` +
      "-----BEGIN PGP SIGNATURE-----\n\niQEz\n=abcd\n-----END PGP SIGNATURE-----\n";
    const m = parseManifest(text);
    assert.equal(m.clearSigned, true);
    assert.deepEqual([...m.entries.keys()], ["gpkg-1", "image.tar"]);
  });

  test("refuses malformed lines, naming the line", () => {
    assert.throws(() => parseManifest("DIST foo 1 SHA512 00\n"), /line 1 is not a DATA entry/);
    assert.throws(() => parseManifest("DATA foo x SHA512 00\n"), /size "x" of foo is not a number/);
    assert.throws(() => parseManifest("DATA foo 1 SHA512\n"), /do not pair up/);
    assert.throws(
      () => parseManifest("DATA foo 1 SHA512 00\nDATA foo 1 SHA512 00\n"),
      /line 2: foo is listed twice/,
    );
  });

  test("a member matches when the size and every known hash agree", () => {
    const d = memberDigestsOf(Buffer.from("abc"));
    const line = manifestLine("x", d);
    assert.match(line, /^DATA x 3 BLAKE2B [0-9a-f]{128} SHA512 [0-9a-f]{128}$/);
    const entry = parseManifest(line).entries.get("x");
    assert.ok(entry);
    assert.equal(manifestMismatch(entry, d), undefined);
    assert.equal(entryLine(entry), line, "an entry kept as listed prints the same line");
  });

  test("mismatches say which field, expected and actual", () => {
    const d = memberDigestsOf(Buffer.from("abc"));
    const good = parseManifest(manifestLine("x", d)).entries.get("x");
    assert.ok(good);
    assert.equal(
      manifestMismatch({ ...good, size: 4 }, d),
      "size mismatch: the Manifest says 4 bytes, the member has 3",
    );
    const sha = d.hashes.get("SHA512") ?? "";
    const bad = new Map([["SHA512", "0".repeat(128)]]);
    assert.equal(
      manifestMismatch({ ...good, hashes: bad }, d),
      `SHA512 mismatch: the Manifest says ${"0".repeat(128)}, the member has ${sha}`,
    );
    const unknownOnly = new Map([["MD5", "00"]]);
    assert.match(manifestMismatch({ ...good, hashes: unknownOnly }, d) ?? "", /no supported hash listed/);
  });
});

describe("XPAK segment", () => {
  test("round trip, binary values kept", () => {
    const entries = new Map<string, Buffer>([
      ["CATEGORY", Buffer.from("app-shells\n")],
      ["PF", Buffer.from("bash-5.2_p26\n")],
      ["environment.bz2", Buffer.from([0x42, 0x5a, 0x68, 0x39, 0, 255])],
    ]);
    const seg = encodeXpakSegment(entries);
    assert.equal(seg.subarray(0, 8).toString(), "XPAKPACK");
    assert.equal(seg.subarray(seg.length - 8).toString(), "XPAKSTOP");
    assert.deepEqual(parseXpakSegment(seg), entries);
  });

  test("refuses lengths that do not fit and entries outside the data", () => {
    const seg = encodeXpakSegment(new Map([["PF", Buffer.from("x-1\n")]]));
    const longerData = Buffer.from(seg);
    longerData.writeUInt32BE(100, 12);
    assert.throws(() => parseXpakSegment(longerData), /do not fill/);
    const badEntry = Buffer.from(seg);
    // index: u32 name length (2), "PF", u32 offset, u32 length → the length field is at 16+10.
    badEntry.writeUInt32BE(1000, 16 + 10);
    assert.throws(() => parseXpakSegment(badEntry), /entry PF \(1000 bytes at 0\) lies outside/);
    assert.throws(() => parseXpakSegment(Buffer.from("not a segment at all, really")), /XPAKPACK/);
  });

  test("trailer recognition", () => {
    const t = Buffer.concat([Buffer.from("XPAKSTOP"), Buffer.from([0, 0, 1, 0]), Buffer.from("STOP")]);
    assert.equal(isXpakTrailer(t), true);
    assert.equal(isXpakTrailer(Buffer.alloc(16)), false);
  });
});

describe("member names and values", () => {
  test("archive names split into stem and compression by suffix", () => {
    assert.deepEqual(splitArchiveName("image.tar.zst"), { stem: "image", compression: "zst" });
    assert.deepEqual(splitArchiveName("metadata.tar"), { stem: "metadata", compression: "none" });
    assert.deepEqual(splitArchiveName("metadata.tar.bz2"), { stem: "metadata", compression: "bz2" });
    assert.equal(splitArchiveName("image.tar.zst.sig"), undefined);
    assert.equal(splitArchiveName("Manifest"), undefined);
    assert.equal(archiveName("metadata", "gz"), "metadata.tar.gz");
    assert.equal(archiveName("image", "none"), "image.tar");
  });

  test("compression from magic bytes", () => {
    assert.equal(compressionFromMagic(Buffer.from("BZh91AY&SY")), "bz2");
    assert.equal(compressionFromMagic(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0])), "zst");
    assert.equal(compressionFromMagic(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), "xz");
    assert.equal(compressionFromMagic(Buffer.from([0x1f, 0x8b, 8])), "gz");
    assert.equal(compressionFromMagic(Buffer.from("usr/bin/")), "none");
  });

  test("metadata text drops trailing newlines; binary values are not text", () => {
    assert.equal(metadataText(Buffer.from("8\n")), "8");
    assert.equal(
      metadataText(Buffer.from(">=dev-libs/a-1\n\tdev-libs/b\n\n")),
      ">=dev-libs/a-1\n\tdev-libs/b",
    );
    assert.equal(metadataText(Buffer.from([0x42, 0x5a, 0x68, 0xff, 0xfe])), undefined);
  });

  test("index values collapse whitespace as portage's Packages writer does", () => {
    assert.equal(indexValue("  >=dev-libs/a-1\n\tdev-libs/b  "), ">=dev-libs/a-1 dev-libs/b");
    assert.equal(indexValue("\n"), "");
  });
});
