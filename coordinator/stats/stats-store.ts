/**
 * Where stage statistics records live: `<store root>/stats/<pipeline>.json` beside the cache of
 * a filesystem store, written by the engine at the end of a run and read by `stagefarm stats`.
 *
 * - A record is replaced by writing a temp file and renaming it: never seen half-written.
 * - Updates are read-modify-write under a lock file (`<file>.lock`, created exclusively), so
 *   two runs (or two processes) ending at once both count; a lock left by a crashed process is
 *   taken over after {@link STALE_LOCK_MS}.
 * - Garbage collection (`cache gc`) does not touch `stats/`.
 * - Any other store (S3) keeps the same records as objects `stats/<pipeline>.json`
 *   (ObjectStatsStore): the coordinator is their only writer, so an in-process queue orders
 *   the read-modify-writes, and a put replaces the object whole.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { setTimeout as sleep } from "node:timers/promises";
import { StagefarmError } from "../../shared/errors.js";
import { errnoOf } from "../../shared/util/fs.js";
import { FsArtifactStore, type ArtifactStore } from "../../shared/store/index.js";
import { addRun, emptyStats, parseStats, type PipelineStats, type StageOutcome } from "./stats-record.js";

const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 10_000;

export interface StatsStore {
  read(pipeline: string): Promise<PipelineStats | undefined>;
  /** Every record in the store. An unreadable one is skipped. */
  list(): Promise<PipelineStats[]>;
  /** Adds the outcomes of one run (started at `startedAt`) to the pipeline's record. */
  addRun(pipeline: string, outcomes: readonly StageOutcome[], startedAt: Date): Promise<void>;
}

/** The statistics records of `store`: files beside a filesystem store, objects in any other. */
export function statsStoreFor(store: ArtifactStore): StatsStore | undefined {
  return store instanceof FsArtifactStore
    ? new FsStatsStore(join(store.root, "stats"))
    : new ObjectStatsStore(store);
}

/** A file name for any pipeline name: URI-encoded, or hashed when that is too long for a file name. */
function fileName(pipeline: string): string {
  const enc = encodeURIComponent(pipeline).replace(/^\./, "%2E");
  return enc.length <= 200 ? `${enc}.json` : `${createHash("sha256").update(pipeline).digest("hex")}.json`;
}

export class FsStatsStore implements StatsStore {
  constructor(readonly dir: string) {}

  async read(pipeline: string): Promise<PipelineStats | undefined> {
    const file = join(this.dir, fileName(pipeline));
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err: unknown) {
      if (errnoOf(err) === "ENOENT") return undefined;
      throw StagefarmError.from(err);
    }
    return parseStats(text, file);
  }

  async list(): Promise<PipelineStats[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err: unknown) {
      if (errnoOf(err) === "ENOENT") return [];
      throw StagefarmError.from(err);
    }
    const out: PipelineStats[] = [];
    for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
      try {
        out.push(parseStats(await readFile(join(this.dir, name), "utf8"), join(this.dir, name)));
      } catch {
        // a record removed meanwhile or damaged: `read` of its pipeline reports it
      }
    }
    return out;
  }

  async addRun(pipeline: string, outcomes: readonly StageOutcome[], startedAt: Date): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = join(this.dir, fileName(pipeline));
    await this.locked(`${file}.lock`, async () => {
      let cur: PipelineStats;
      try {
        cur = (await this.read(pipeline)) ?? emptyStats(pipeline);
      } catch (err: unknown) {
        // A damaged record is started afresh rather than blocking every later run.
        if (StagefarmError.from(err).code !== "corrupt_artifact") throw err;
        cur = emptyStats(pipeline);
      }
      const tmp = join(this.dir, `.${randomBytes(6).toString("hex")}.tmp`);
      try {
        await writeFile(tmp, `${JSON.stringify(addRun(cur, outcomes, { startedAt, at: new Date() }))}\n`);
        await rename(tmp, file);
      } finally {
        await rm(tmp, { force: true });
      }
    });
  }

  private async locked(lock: string, fn: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await (await open(lock, "wx")).close();
        break;
      } catch (err: unknown) {
        if (errnoOf(err) !== "EEXIST") throw StagefarmError.from(err);
        const st = await stat(lock).catch(() => undefined);
        if (st !== undefined && Date.now() - st.mtimeMs > STALE_LOCK_MS) {
          await rm(lock, { force: true });
          continue;
        }
        if (Date.now() > deadline)
          throw new StagefarmError("timeout", `stage statistics are locked by ${lock} (another run?)`);
        await sleep(20);
      }
    }
    try {
      await fn();
    } finally {
      await rm(lock, { force: true });
    }
  }
}

/** Stats records as store objects (`stats/<file>`), for stores without a local root (S3). */
export class ObjectStatsStore implements StatsStore {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly store: ArtifactStore) {}

  async read(pipeline: string): Promise<PipelineStats | undefined> {
    const path = `stats/${fileName(pipeline)}`;
    if ((await this.store.statObject(path)) === undefined) return undefined;
    const body = await this.store.getObject(path);
    return parseStats(await text(body), path);
  }

  async list(): Promise<PipelineStats[]> {
    const out: PipelineStats[] = [];
    const paths: string[] = [];
    for await (const o of this.store.listObjects("stats/")) if (o.path.endsWith(".json")) paths.push(o.path);
    for (const path of paths.sort()) {
      try {
        out.push(parseStats(await text(await this.store.getObject(path)), path));
      } catch {
        // removed meanwhile or damaged: `read` of its pipeline reports it
      }
    }
    return out;
  }

  addRun(pipeline: string, outcomes: readonly StageOutcome[], startedAt: Date): Promise<void> {
    const next = this.#queue.then(async () => {
      let cur: PipelineStats;
      try {
        cur = (await this.read(pipeline)) ?? emptyStats(pipeline);
      } catch (err: unknown) {
        if (StagefarmError.from(err).code !== "corrupt_artifact") throw err;
        cur = emptyStats(pipeline);
      }
      const record = addRun(cur, outcomes, { startedAt, at: new Date() });
      await this.store.putObject(`stats/${fileName(pipeline)}`, `${JSON.stringify(record)}\n`);
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
