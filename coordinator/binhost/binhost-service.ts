/**
 * The farm binhost's writer. Every change to a binhost (publish, remove, gc, settings) goes
 * through a BinhostService; writers of one binhost are serialised twice: inside the process by
 * a queue per name (./write-queue.ts, which also batches publications), and between processes
 * by the store's lock on the binhost's index (`ArtifactStore.lockObject`: a flock on the
 * filesystem store), held from reading the index to replacing it. So any number of `stagefarm
 * run`/`up`/`binhost` processes may write one store's binhosts at once: each write reads the
 * index its predecessor wrote, and TIMESTAMP (max(now, previous + 1)) strictly increases. A
 * store without that lock (S3) has one writer by design: the coordinator.
 *
 * publish(name, refs): the uploaded packages are copied from the CAS and read outside the lock
 * (./inspect.ts: container, Manifest, CATEGORY/PF), then, under the lock and batched with the
 * publications that queued meanwhile, given their BUILD_IDs and written (./admit.ts), and the
 * index is rewritten once for the batch (./state.ts). A refused request changes nothing; the
 * other requests of its batch are not affected.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkProfileHeader } from "../../shared/binhost/index.js";
import { isDigest } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { BinhostPackageRef, PublishedPackage, PublishResult } from "../../shared/protocol/binhost.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { admitRequest, type AdmitRequest } from "./admit.js";
import { renderBinreposConf } from "./binrepos-conf.js";
import { inspectAll, inspectUpload, type InspectedPackage } from "./inspect.js";
import {
  collectBinhost,
  configureBinhost,
  removePackages,
  type BinhostGcReport,
  type RemoveReport,
  type SettingsPatch,
} from "./maintenance.js";
import type { BinhostSettings } from "./meta.js";
import { assertBinhostName, indexPath } from "./paths.js";
import { BinhostState } from "./state.js";
import { listBinhosts, showBinhost, type BinhostDetails, type BinhostSummary } from "./views.js";
import { KeyedWriteQueue, type BatchEntry } from "./write-queue.js";

export type { BinhostDetails, BinhostSummary } from "./views.js";
export type { BinhostGcReport, RemoveReport, SettingsPatch } from "./maintenance.js";

export interface BinhostServiceOptions {
  store: ArtifactStore;
  logger: Logger;
  /** Where uploaded packages are copied to be read (default: the OS temp directory). */
  tmpDir?: string;
  /** Packages of one publication read at once (default 4). */
  inspectParallel?: number;
  /** gc leaves package objects the index does not list alone when younger than this (default 1 h). */
  orphanGraceMs?: number;
}

interface WriteItem extends AdmitRequest {
  signal: AbortSignal | undefined;
  /** The publisher's profile keys (checked), merged into the index header. */
  profile: Readonly<Record<string, string>>;
}

export class BinhostService {
  readonly #o: BinhostServiceOptions;
  readonly #log: Logger;
  readonly #queue: KeyedWriteQueue<WriteItem, PublishResult>;

  constructor(opts: BinhostServiceOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: "binhost" });
    this.#queue = new KeyedWriteQueue((name, batch) =>
      this.#locked(name, () => this.#writeBatch(name, batch)),
    );
  }

  /** Runs `fn` holding the store's lock on binhost `name`'s index (stores that have one). */
  async #locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const lock = await this.#o.store.lockObject?.(indexPath(name));
    try {
      return await fn();
    } finally {
      await lock?.release();
    }
  }

  get store(): ArtifactStore {
    return this.#o.store;
  }

  /** Publishes packages already uploaded to the store's CAS. All or nothing per call. */
  async publish(
    name: string,
    packages: readonly BinhostPackageRef[],
    opts: { signal?: AbortSignal; profile?: Readonly<Record<string, string>> } = {},
  ): Promise<PublishResult> {
    assertBinhostName(name);
    if (packages.length === 0)
      throw new StagefarmError("invalid_argument", `binhost "${name}": nothing to publish`);
    const profile = opts.profile ?? {};
    checkProfileHeader(profile, `binhost "${name}": the publisher's profile header`);
    for (const p of packages)
      if (!isDigest(p.digest))
        throw new StagefarmError(
          "invalid_argument",
          `binhost "${name}": "${p.digest}" is not a sha256 digest`,
        );
    const dir = await mkdtemp(join(this.#o.tmpDir ?? tmpdir(), "sf-binhost-"));
    try {
      // Skip reading what is published already (a package fetched from this binhost and
      // collected again); the writer checks again under the lock.
      const before = await BinhostState.load(this.#o.store, name);
      const seen = new Set<string>();
      const toRead = packages.filter((p) => {
        if (before.byDigest.has(p.digest) || seen.has(p.digest)) return false;
        seen.add(p.digest);
        return true;
      });
      const inspected = await inspectAll(
        this.#o.store,
        name,
        toRead,
        dir,
        opts.signal,
        this.#o.inspectParallel,
      );
      const byDigest = new Map<string, InspectedPackage>(inspected.map((i) => [i.ref.digest, i]));
      return await this.#queue.submit(name, {
        refs: packages,
        inspected: byDigest,
        inspect: (ref) => inspectUpload(this.#o.store, name, ref, dir, opts.signal),
        signal: opts.signal,
        profile,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async #writeBatch(name: string, batch: Array<BatchEntry<WriteItem, PublishResult>>): Promise<void> {
    const state = await BinhostState.load(this.#o.store, name);
    const admitted: Array<{ entry: (typeof batch)[number]; packages: PublishedPackage[] }> = [];
    for (const entry of batch) {
      try {
        admitted.push({
          entry,
          packages: await admitRequest(this.#o.store, state, entry.item, entry.item.signal),
        });
        state.mergeProfile(entry.item.profile);
      } catch (err: unknown) {
        const e = StagefarmError.from(err);
        this.#log.warn({ binhost: name, err: e }, "publication refused");
        entry.reject(e);
      }
    }
    const timestamp = state.changed ? await state.write(this.#o.store) : state.timestamp;
    const published = admitted.flatMap((a) => a.packages);
    if (state.changed)
      this.#log.info(
        {
          binhost: name,
          requests: admitted.length,
          added: published.filter((p) => !p.duplicate).length,
          duplicates: published.filter((p) => p.duplicate).length,
          total: state.packages.size,
          timestamp,
        },
        "binhost index written",
      );
    for (const a of admitted)
      a.entry.resolve({ binhost: name, timestamp, total: state.packages.size, packages: a.packages });
  }

  /** Every binhost in the store. */
  list(): Promise<BinhostSummary[]> {
    return listBinhosts(this.#o.store);
  }

  show(name: string): Promise<BinhostDetails> {
    return showBinhost(this.#o.store, name);
  }

  /** Removes one package (its PATH) or every build of a CPV. */
  remove(name: string, pathOrCpv: string): Promise<RemoveReport> {
    assertBinhostName(name);
    return this.#exclusive(name, async () => {
      const r = await removePackages(this.#o.store, name, pathOrCpv);
      this.#log.info(
        { binhost: name, removed: r.removed.length, timestamp: r.timestamp },
        "packages removed",
      );
      return r;
    });
  }

  /** Keeps the newest `keep` builds per CPV and USE; a dry run reports what a gc would remove. */
  gc(name: string, opts: { keep: number; dryRun: boolean; now?: Date }): Promise<BinhostGcReport> {
    assertBinhostName(name);
    return this.#exclusive(name, async () => {
      const r = await collectBinhost(this.#o.store, name, {
        keep: opts.keep,
        dryRun: opts.dryRun,
        now: opts.now ?? new Date(),
        orphanGraceMs: this.#o.orphanGraceMs ?? 3_600_000,
      });
      if (!opts.dryRun)
        this.#log.info(
          { binhost: name, removed: r.removed.length, orphans: r.orphans.length, timestamp: r.timestamp },
          "binhost gc done",
        );
      return r;
    });
  }

  /** The binhost's settings (defaults when it has none). */
  async settings(name: string): Promise<BinhostSettings> {
    assertBinhostName(name);
    return (await BinhostState.load(this.#o.store, name)).meta.settings;
  }

  /** Changes the settings; the index is rewritten (its header carries the configured keys). */
  configure(name: string, patch: SettingsPatch): Promise<BinhostSettings> {
    assertBinhostName(name);
    return this.#exclusive(name, () => configureBinhost(this.#o.store, name, patch));
  }

  /**
   * The binrepos.conf stanza for binhost `name` served at `baseUrl`. A binhost that does not
   * exist yet is created empty (unless `create: false`), so portage finds an index, not a 404,
   * before the first publication.
   */
  async binreposConf(name: string, baseUrl: string, opts: { create?: boolean } = {}): Promise<string> {
    assertBinhostName(name);
    const state = await BinhostState.load(this.#o.store, name);
    const conf = renderBinreposConf(name, baseUrl, state.meta.settings);
    if (!state.exists && opts.create !== false)
      await this.#exclusive(name, async () => {
        const now = await BinhostState.load(this.#o.store, name);
        if (now.exists) return;
        now.changed = true;
        await now.write(this.#o.store);
        this.#log.info({ binhost: name }, "empty binhost created");
      });
    return conf;
  }

  /** Runs `fn` alone among this binhost's writers, of this process and of every other. */
  #exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#queue.exclusive(name, () => this.#locked(name, fn));
  }

  /** Waits for every queued write. */
  async close(): Promise<void> {
    await this.#queue.idle();
  }
}
