/**
 * The filesystem store's lock between processes (shared/store/fs-lock.ts): a second taker
 * waits while another process holds it (an abort gives up waiting with `cancelled`), and a
 * holder killed with SIGKILL (no cleanup of any kind) releases it at once: the waiter that was
 * queued gets it without any staleness rule. Release is idempotent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StagefarmError } from "../../shared/errors.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { CliProcess } from "../helpers/cli.js";

const HOLDER = fileURLToPath(new URL("../helpers/lock-holder-main.js", import.meta.url));
const PATH = "binhost/farm/Packages";

void test("fs store lock: held by another process, waited for, released when that process is SIGKILLed", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sf-lock-"));
  const holder = new CliProcess(
    spawn(process.execPath, [HOLDER, dir, PATH], { stdio: ["ignore", "pipe", "pipe"] }),
  );
  try {
    await using store = await FsArtifactStore.open(dir);
    await holder.waitForOutput(/HELD/, 20_000);

    // Held elsewhere: an abort ends the wait with `cancelled`.
    const ac = new AbortController();
    const refused = store.lockObject(PATH, { signal: ac.signal });
    ac.abort();
    await assert.rejects(refused, (e: unknown) => e instanceof StagefarmError && e.code === "cancelled");

    // Queued behind the holder; the holder dies without releasing anything.
    let granted = false;
    const waiting = store.lockObject(PATH).then((l) => ((granted = true), l));
    const other = await store.lockObject("binhost/other/Packages");
    await other.release();
    assert.equal(granted, false, "granted while another process holds the lock");
    holder.kill("SIGKILL");
    const lock = await waiting;
    await lock.release();
    await lock.release();

    // Free again: taken at once, also by a second store object in this process after release.
    await using again = await store.lockObject(PATH);
    void again;
  } finally {
    holder.kill("SIGKILL");
    await holder.exited;
    await rm(dir, { recursive: true, force: true });
  }
});
