/**
 * The ArtifactStore conformance tests of plain objects (`binhost/…`): round trips, atomic
 * replacement, listing by prefix, `+` in names, not_found, refused paths, aborts.
 * Registered by ./artifact-store.ts inside its describe block, with its fresh-store helper.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "node:test";
import type { ArtifactStore } from "../../shared/store/index.js";
import { collect, isError, readAll } from "./store-assert.js";

const KiB = 1024;
const SIGC = "binhost/main/dev-libs/libsigc++/libsigc++-2.12.1-r1-1.gpkg.tar";

/** Version `v` of a replaced object: `sizeOf(v)` bytes, all equal to `v`. */
const sizeOf = (v: number): number => 64 * KiB + v * 4099;
const versionBytes = (v: number): Buffer => Buffer.alloc(sizeOf(v), v);

/** Checks that `bytes` are exactly one whole version; returns it. */
function wholeVersion(bytes: Buffer): number {
  const v = bytes[0];
  assert.ok(v !== undefined, "an object read back empty");
  assert.equal(bytes.length, sizeOf(v), `read ${bytes.length} bytes of version ${v} (${sizeOf(v)} written)`);
  assert.ok(
    bytes.every((b) => b === v),
    `version ${v} read back mixed with other bytes`,
  );
  return v;
}

export type WithStore = (fn: (store: ArtifactStore) => Promise<void>) => Promise<void>;

/** What the server under a store cannot do, each with the reason: the tests that need it are
 *  reported as skipped rather than made weaker. */
export interface ObjectServerLimits {
  /** The server writes objects in place: a concurrent reader can see a partial object. */
  nonAtomicObjectServer?: string;
  /** The server's listings do not round-trip every character of a key (e.g. '+'). */
  listingAltersKeys?: string;
}

export function objectConformance(withStore: WithStore, limits: ObjectServerLimits): void {
  void test("objects round-trip as strings, buffers and streams, and are replaced whole", () =>
    withStore(async (store) => {
      const path = "binhost/main/Packages";
      const before = Date.now();
      const put = await store.putObject(path, "VERSION: 0\n\n");
      assert.equal(put.size, 12);
      assert.ok(put.mtime instanceof Date);
      assert.ok(Math.abs(put.mtime.getTime() - before) < 60_000, `mtime ${put.mtime.toISOString()}`);
      assert.equal((await readAll(await store.getObject(path))).toString(), "VERSION: 0\n\n");
      assert.equal((await store.statObject(path))?.size, 12);

      const gz = randomBytes(3 * KiB);
      assert.equal((await store.putObject("binhost/main/Packages.gz", gz)).size, gz.length);
      assert.deepEqual(await readAll(await store.getObject("binhost/main/Packages.gz")), gz);

      const big = randomBytes(1024 * KiB + 17);
      const streamed = await store.putObject(
        path,
        Readable.from([big.subarray(0, 1000), big.subarray(1000)]),
      );
      assert.equal(streamed.size, big.length);
      assert.deepEqual(await readAll(await store.getObject(path)), big);
      assert.equal((await store.statObject(path))?.size, big.length);
      await store.putObject(path, "short\n");
      assert.equal((await readAll(await store.getObject(path))).toString(), "short\n");
    }));

  void test("object paths may contain '+' (dev-libs/libsigc++)", () =>
    withStore(async (store) => {
      const bytes = randomBytes(10 * KiB);
      assert.equal((await store.putObject(SIGC, bytes)).size, bytes.length);
      assert.equal((await store.statObject(SIGC))?.size, bytes.length);
      assert.deepEqual(await readAll(await store.getObject(SIGC)), bytes);
      assert.equal(await store.statObject(SIGC.replace("++", "  ")), undefined, "'+' is not a space");
      assert.equal(await store.statObject(SIGC.replace("++", "%2B%2B")), undefined, "'+' is not encoded");
      await store.deleteObject(SIGC);
      assert.equal(await store.statObject(SIGC), undefined);
      await assert.rejects(store.getObject(SIGC), isError("not_found", SIGC));
    }));

  void test("listObjects returns names with '+' as they are", { skip: limits.listingAltersKeys }, () =>
    withStore(async (store) => {
      await store.putObject(SIGC, "sigc");
      for (const prefix of ["binhost/main/dev-libs/libsigc++/", "binhost/main/dev-libs/libsigc+", "binhost/"])
        assert.deepEqual(
          (await collect(store.listObjects(prefix))).map((o) => [o.path, o.size]),
          [[SIGC, 4]],
          prefix,
        );
    }),
  );

  void test("listObjects lists by prefix, and nothing but objects", () =>
    withStore(async (store) => {
      const paths = [
        "binhost/a/Packages",
        "binhost/a/Packages.gz",
        "binhost/a/dev-libs/foo/foo-1-1.gpkg.tar",
        "binhost/a/dev-libs/foo/foo-1-2.gpkg.tar",
        "binhost/a/dev-libs/foo-bar/foo-bar-2-1.gpkg.tar",
        "binhost/a/dev-libs/foo.baz/foo.baz-1-1.gpkg.tar",
        "binhost/a-b/Packages",
        "binhost/b/Packages",
      ];
      for (const [i, p] of [...paths].reverse().entries()) await store.putObject(p, "x".repeat(i + 1));
      await store.putBlob(Readable.from([Buffer.from("a blob")]));
      await store.putLog("logs/r/s/1.log", "a log\n");
      // The port promises no order (s3rver lists in its directory order, S3 in key order).
      const order = (list: string[]): string[] => [...list].sort();
      const listed = await collect(store.listObjects("binhost/"));
      assert.deepEqual(order(listed.map((o) => o.path)), order(paths));
      for (const o of listed) {
        assert.equal(o.size, [...paths].reverse().indexOf(o.path) + 1, o.path);
        assert.ok(o.mtime instanceof Date, o.path);
      }
      const names = async (prefix: string): Promise<string[]> =>
        order((await collect(store.listObjects(prefix))).map((o) => o.path));
      assert.deepEqual(await names("binhost"), order(paths));
      assert.deepEqual(await names("binhost/a/"), order(paths.filter((p) => p.startsWith("binhost/a/"))));
      assert.deepEqual(await names("binhost/a"), order(paths.filter((p) => p.startsWith("binhost/a"))));
      assert.deepEqual(await names("binhost/a/dev-libs/foo"), [
        "binhost/a/dev-libs/foo-bar/foo-bar-2-1.gpkg.tar",
        "binhost/a/dev-libs/foo.baz/foo.baz-1-1.gpkg.tar",
        "binhost/a/dev-libs/foo/foo-1-1.gpkg.tar",
        "binhost/a/dev-libs/foo/foo-1-2.gpkg.tar",
      ]);
      assert.deepEqual(await names("binhost/a/dev-libs/foo/"), [
        "binhost/a/dev-libs/foo/foo-1-1.gpkg.tar",
        "binhost/a/dev-libs/foo/foo-1-2.gpkg.tar",
      ]);
      assert.deepEqual(await names("binhost/c/"), []);
      assert.deepEqual(await names("binhost/a/Packages.g"), ["binhost/a/Packages.gz"]);
    }));

  void test("a missing object is not_found to get, undefined to stat, and fine to delete", () =>
    withStore(async (store) => {
      const path = "binhost/main/sys-apps/none/none-1-1.gpkg.tar";
      await assert.rejects(store.getObject(path), isError("not_found", path));
      assert.equal(await store.statObject(path), undefined);
      await store.deleteObject(path);
      await store.putObject(path, "there");
      await store.deleteObject(path);
      await store.deleteObject(path);
      await assert.rejects(store.getObject(path), isError("not_found", path));
      // A path below an object, and a "directory" that only holds objects, are not objects.
      await store.putObject("binhost/main/file", "f");
      await assert.rejects(store.getObject("binhost/main/file/below"), isError("not_found"));
      assert.equal(await store.statObject("binhost/main/file/below"), undefined);
      await store.putObject("binhost/main/dir/inside", "i");
      await assert.rejects(store.getObject("binhost/main/dir"), isError("not_found"));
      assert.equal(await store.statObject("binhost/main/dir"), undefined);
    }));

  void test("object paths outside binhost/ or not normalised are refused", () =>
    withStore(async (store) => {
      for (const bad of [
        "../binhost/a/b",
        "/binhost/a/b",
        "binhost/a/../b",
        "binhost/a/./b",
        "binhost/a//b",
        "binhost/a/b/",
        "binhost/a",
        "binhost/",
        "logs/a/b",
        "cas/sha256/00/x",
        "binhost/a/b\\c",
        "binhost/a/b\nc",
        "binhost/a/b\0",
      ]) {
        const shown = JSON.stringify(bad);
        await assert.rejects(store.putObject(bad, "x"), isError("invalid_argument"), shown);
        await assert.rejects(store.getObject(bad), isError("invalid_argument"), shown);
        await assert.rejects(store.statObject(bad), isError("invalid_argument"), shown);
        await assert.rejects(store.deleteObject(bad), isError("invalid_argument"), shown);
      }
      for (const bad of ["logs/", "", "binhost/../cas", "binhost/a//", "binhost/./a"])
        await assert.rejects(
          collect(store.listObjects(bad)),
          isError("invalid_argument"),
          JSON.stringify(bad),
        );
      assert.deepEqual(await collect(store.listObjects("binhost/")), []);
    }));

  void test("a failed or aborted put leaves the previous object as it was", () =>
    withStore(async (store) => {
      const path = "binhost/main/Packages";
      await store.putObject(path, "old\n");
      const failing = Readable.from(
        (function* () {
          yield randomBytes(64 * KiB);
          throw new Error("the producer died");
        })(),
      );
      await assert.rejects(store.putObject(path, failing), /the producer died/);
      await assert.rejects(
        store.putObject(path, "new\n", { signal: AbortSignal.abort() }),
        isError("cancelled"),
      );
      const ac = new AbortController();
      let sent = false;
      const hanging = new Readable({
        read() {
          if (sent) return;
          sent = true;
          this.push(randomBytes(64 * KiB));
          setImmediate(() => ac.abort());
        },
      });
      await assert.rejects(store.putObject(path, hanging, { signal: ac.signal }), isError("cancelled"));
      assert.equal((await readAll(await store.getObject(path))).toString(), "old\n");
      assert.deepEqual(
        (await collect(store.listObjects("binhost/"))).map((o) => o.path),
        [path],
      );
    }));

  void test("an aborted object read stops with cancelled", () =>
    withStore(async (store) => {
      const path = "binhost/main/big.gpkg.tar";
      await store.putObject(path, Readable.from([randomBytes(4 * 1024 * KiB)]));
      await assert.rejects(store.getObject(path, { signal: AbortSignal.abort() }), isError("cancelled"));
      const ac = new AbortController();
      const reading = (async () => {
        for await (const _ of (await store.getObject(path, { signal: ac.signal })) as AsyncIterable<Buffer>)
          ac.abort();
      })();
      await assert.rejects(reading, isError("cancelled"));
    }));

  void test(
    "replacing an object is atomic: concurrent readers see a whole version, never a partial one",
    { skip: limits.nonAtomicObjectServer },
    () =>
      withStore(async (store) => {
        const path = "binhost/main/Packages";
        await store.putObject(path, versionBytes(1));
        let writing = true;
        const seen = new Set<number>();
        const reader = async (): Promise<number> => {
          let reads = 0;
          while (writing || reads === 0) {
            seen.add(wholeVersion(await readAll(await store.getObject(path))));
            const st = await store.statObject(path);
            assert.ok(st !== undefined && (st.size - 64 * KiB) % 4099 === 0, `stat size ${st?.size}`);
            reads++;
          }
          return reads;
        };
        const writer = async (): Promise<void> => {
          try {
            for (let v = 2; v <= 40; v++) {
              const bytes = versionBytes(v);
              const data =
                v % 2 === 0 ? bytes : Readable.from([bytes.subarray(0, 5000), bytes.subarray(5000)]);
              assert.equal((await store.putObject(path, data)).size, bytes.length);
            }
          } finally {
            writing = false;
          }
        };
        const [, ...reads] = await Promise.all([writer(), reader(), reader(), reader(), reader()]);
        assert.ok(reads.every((n) => n > 0));
        assert.equal(wholeVersion(await readAll(await store.getObject(path))), 40);
        assert.ok(seen.size >= 2, `readers saw versions ${[...seen].join(", ")} only`);
      }),
  );
}
