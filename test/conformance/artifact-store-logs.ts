/**
 * The ArtifactStore conformance tests of stage logs (`logs/…`): round trips, listing by
 * prefix, removal, refused paths and ranged reads (the dashboard reads the tail of a log of
 * hundreds of megabytes by range). Registered by ./artifact-store.ts inside its describe block.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "node:test";
import type { WithStore } from "./artifact-store-objects.js";
import { collect, isError, readAll } from "./store-assert.js";

export function logConformance(withStore: WithStore): void {
  void test("logs round-trip, list by prefix and delete", () =>
    withStore(async (store) => {
      await store.putLog("logs/run1/build/1.log", "line 1\nline 2\n");
      await store.putLog(
        "logs/run1/test/1.log",
        Readable.from([Buffer.from("streamed "), Buffer.from("log\n")]),
      );
      await store.putLog("logs/run2/build/1.log", "other run\n");
      assert.equal(
        (await readAll(await store.getLog("logs/run1/build/1.log"))).toString(),
        "line 1\nline 2\n",
      );
      assert.equal((await readAll(await store.getLog("logs/run1/test/1.log"))).toString(), "streamed log\n");
      await store.putLog("logs/run1/build/1.log", "replaced\n");
      assert.equal((await readAll(await store.getLog("logs/run1/build/1.log"))).toString(), "replaced\n");
      const run1 = await collect(store.listLogs("logs/run1/"));
      assert.deepEqual(run1.map((l) => [l.path, l.size]).sort(), [
        ["logs/run1/build/1.log", 9],
        ["logs/run1/test/1.log", 13],
      ]);
      assert.equal((await collect(store.listLogs())).length, 3);
      assert.deepEqual(
        (await collect(store.listLogs("logs/run2"))).map((l) => l.path),
        ["logs/run2/build/1.log"],
      );
      await store.deleteLog("logs/run1/test/1.log");
      await store.deleteLog("logs/run1/test/1.log"); // absent: no error
      await assert.rejects(
        store.getLog("logs/run1/test/1.log"),
        isError("not_found", "logs/run1/test/1.log"),
      );
    }));

  void test("log paths outside logs/ are refused", () =>
    withStore(async (store) => {
      for (const bad of [
        "../etc/passwd",
        "/etc/passwd",
        "logs/../ac/x.json",
        "other/x.log",
        "logs/a//b",
        "logs/",
        "logs/a/./b",
      ]) {
        await assert.rejects(store.putLog(bad, "x"), isError("invalid_argument", bad), bad);
        await assert.rejects(store.getLog(bad), isError("invalid_argument"), bad);
        await assert.rejects(store.deleteLog(bad), isError("invalid_argument"), bad);
      }
      await assert.rejects(collect(store.listLogs("logs/../ac")), isError("invalid_argument"));
      await assert.rejects(collect(store.listLogs("ac/")), isError("invalid_argument"));
      assert.deepEqual(await collect(store.listLogs()), []);
    }));

  void test("logs are read by byte range", () =>
    withStore(async (store) => {
      const path = "logs/run1/build/1.log";
      const bytes = randomBytes(3 * (1 << 20) + 17);
      await store.putLog(path, Readable.from([bytes]));
      const range = async (start: number, end?: number): Promise<Buffer> =>
        readAll(await store.getLog(path, end === undefined ? { start } : { start, end }));
      assert.deepEqual(await range(0), bytes);
      assert.deepEqual(await range(0, 10), bytes.subarray(0, 10));
      assert.deepEqual(await range(1 << 20, (1 << 20) + 4099), bytes.subarray(1 << 20, (1 << 20) + 4099));
      assert.deepEqual(await range(bytes.length - 100), bytes.subarray(bytes.length - 100));
      assert.deepEqual(await range(bytes.length - 5, bytes.length + 50), bytes.subarray(bytes.length - 5));
      // Empty and past-the-end ranges read nothing; a missing log is still not_found.
      assert.equal((await range(7, 7)).length, 0);
      assert.equal((await range(bytes.length)).length, 0);
      assert.equal((await range(bytes.length + 10)).length, 0);
      await assert.rejects(store.getLog("logs/run1/none/1.log", { start: 5 }), isError("not_found"));
      await assert.rejects(store.getLog("logs/run1/none/1.log", { start: 5, end: 5 }), isError("not_found"));
      await assert.rejects(store.getLog(path, { start: -1 }), isError("invalid_argument", "byte range"));
      await assert.rejects(store.getLog(path, { start: 0.5 }), isError("invalid_argument", "byte range"));
    }));
}
