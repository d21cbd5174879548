/**
 * Where `stagefarm binhost …` acts: the local store through a BinhostService of this process,
 * or a farm through its coordinator over gRPC (./farm-backend.ts). Both answer with the
 * service's own report types, so the commands print (and `--json` writes) the same either way.
 */
import {
  BinhostService,
  type BinhostDetails,
  type BinhostGcReport,
  type BinhostSettings,
  type BinhostSummary,
  type RemoveReport,
  type SettingsPatch,
} from "../../coordinator/index.js";
import type { Logger } from "../../shared/log.js";
import type { PublishResult } from "../../shared/protocol/binhost.js";
import type { ArtifactStore } from "../../shared/store/index.js";

/** A package file stored in the CAS, ready to publish by digest. */
export interface UploadedFile {
  file: string;
  digest: string;
  size: number;
}

export interface BinhostBackend {
  /** Which store and writer are used, for the user: `local store fs:/…` or `farm coordinator …`. */
  readonly where: string;
  list(): Promise<BinhostSummary[]>;
  show(name: string): Promise<BinhostDetails>;
  remove(name: string, pathOrCpv: string): Promise<RemoveReport>;
  gc(name: string, opts: { keep: number; dryRun: boolean }): Promise<BinhostGcReport>;
  configure(name: string, patch: SettingsPatch): Promise<BinhostSettings>;
  /** Stores a file in the CAS the writer reads (the local store, or the farm's S3 store). */
  upload(file: string): Promise<UploadedFile>;
  publish(name: string, files: readonly UploadedFile[], signal?: AbortSignal): Promise<PublishResult>;
}

/** The local store: this process's BinhostService is the writer (no farm process may write it). */
export class LocalBinhostBackend implements BinhostBackend {
  readonly #service: BinhostService;

  constructor(
    private readonly store: ArtifactStore,
    logger: Logger,
    readonly where: string,
  ) {
    this.#service = new BinhostService({ store, logger });
  }

  list(): Promise<BinhostSummary[]> {
    return this.#service.list();
  }

  show(name: string): Promise<BinhostDetails> {
    return this.#service.show(name);
  }

  remove(name: string, pathOrCpv: string): Promise<RemoveReport> {
    return this.#service.remove(name, pathOrCpv);
  }

  gc(name: string, opts: { keep: number; dryRun: boolean }): Promise<BinhostGcReport> {
    return this.#service.gc(name, opts);
  }

  configure(name: string, patch: SettingsPatch): Promise<BinhostSettings> {
    return this.#service.configure(name, patch);
  }

  async upload(file: string): Promise<UploadedFile> {
    const b = await this.store.putBlobFile(file);
    return { file, digest: b.digest, size: b.size };
  }

  publish(name: string, files: readonly UploadedFile[], signal?: AbortSignal): Promise<PublishResult> {
    return this.#service.publish(
      name,
      files.map((f) => ({ digest: f.digest, size: f.size })),
      signal === undefined ? {} : { signal },
    );
  }

  async close(): Promise<void> {
    await this.#service.close();
  }
}
