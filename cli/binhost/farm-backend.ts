/**
 * A farm's binhosts through its coordinator (the binhosts' single writer) over gRPC: viewer
 * RPCs for ls/show/conf, admin RPCs for rm/gc/set/publish. Packages to publish are uploaded to
 * the farm's S3 store first (as `stagefarm import --s3` does), then published by digest.
 */
import type {
  BinhostDetails,
  BinhostGcReport,
  BinhostSettings,
  BinhostSummary,
  RemoveReport,
  SettingsPatch,
} from "../../coordinator/index.js";
import type { BinhostSettings as SettingsMsg } from "../../proto/gen/stagefarm/v1/binhost_pb.js";
import type { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import type { GrpcClient } from "../../shared/grpc/index.js";
import type { PublishResult } from "../../shared/protocol/binhost.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import type { BinhostBackend, UploadedFile } from "./backend.js";

type Client = GrpcClient<typeof StagefarmService>;

function settingsOf(s: SettingsMsg | undefined): BinhostSettings {
  if (s === undefined) throw new StagefarmError("internal", "the coordinator sent no settings");
  return {
    header: { ...s.header },
    priority: s.priority,
    verifySignature: s.verifySignature,
    ...(s.location === "" ? {} : { location: s.location }),
  };
}

export class FarmBinhostBackend implements BinhostBackend {
  constructor(
    private readonly client: Client,
    readonly where: string,
    /** Opens the farm's S3 store for uploads (refuses when none is configured). */
    private readonly openStore: () => Promise<ArtifactStore>,
  ) {}

  async list(): Promise<BinhostSummary[]> {
    const r = await this.client.listBinhosts({});
    return r.binhosts.map((b) => ({
      name: b.name,
      packages: b.packages,
      bytes: Number(b.bytes),
      timestamp: Number(b.timestamp),
    }));
  }

  async show(name: string): Promise<BinhostDetails> {
    const r = await this.client.getBinhost({ name });
    const s = r.summary;
    if (s === undefined) throw new StagefarmError("internal", "the coordinator sent no binhost");
    return {
      name: s.name,
      packages: s.packages,
      bytes: Number(s.bytes),
      timestamp: Number(s.timestamp),
      header: { ...r.header },
      settings: settingsOf(r.settings),
      entries: r.entries.map((e) => ({
        path: e.path,
        cpv: e.cpv,
        buildId: e.buildId,
        buildTime: Number(e.buildTime),
        size: Number(e.size),
        use: e.use,
        ...(e.record === undefined
          ? {}
          : {
              record: {
                digest: e.record.digest,
                sha256: e.record.sha256,
                publishedAt: e.record.publishedAt,
                ...(e.record.stage === "" ? {} : { stage: e.record.stage }),
                ...(e.record.run === "" ? {} : { run: e.record.run }),
                ...(e.record.agent === "" ? {} : { agent: e.record.agent }),
                ...(e.record.renumberedFrom === 0 ? {} : { renumberedFrom: e.record.renumberedFrom }),
              },
            }),
      })),
    };
  }

  async remove(name: string, pathOrCpv: string): Promise<RemoveReport> {
    const r = await this.client.removeBinpkgs({ name, pathOrCpv });
    return { binhost: r.name, removed: r.removed, timestamp: Number(r.timestamp) };
  }

  async gc(name: string, opts: { keep: number; dryRun: boolean }): Promise<BinhostGcReport> {
    const r = await this.client.collectBinhost({ name, keep: opts.keep, dryRun: opts.dryRun });
    return {
      binhost: r.name,
      dryRun: r.dryRun,
      keep: r.keep,
      removed: r.removed.map((c) => ({
        path: c.path,
        cpv: c.cpv,
        buildId: c.buildId,
        buildTime: Number(c.buildTime),
        use: c.use,
        size: Number(c.size),
      })),
      orphans: r.orphans,
      kept: r.kept,
      bytesFreed: Number(r.bytesFreed),
      timestamp: Number(r.timestamp),
    };
  }

  async configure(name: string, patch: SettingsPatch): Promise<BinhostSettings> {
    const setHeader: Record<string, string> = {};
    const unsetHeader: string[] = [];
    for (const [k, v] of Object.entries(patch.header ?? {}))
      if (v === null) unsetHeader.push(k);
      else setHeader[k] = v;
    const r = await this.client.configureBinhost({
      name,
      setHeader,
      unsetHeader,
      ...(patch.priority === undefined ? {} : { priority: patch.priority }),
      ...(patch.verifySignature === undefined ? {} : { verifySignature: patch.verifySignature }),
      ...(patch.location === null
        ? { clearLocation: true }
        : patch.location === undefined
          ? {}
          : { location: patch.location }),
    });
    return settingsOf(r.settings);
  }

  async upload(file: string): Promise<UploadedFile> {
    const store = await this.openStore();
    const b = await store.putBlobFile(file);
    return { file, digest: b.digest, size: b.size };
  }

  async publish(name: string, files: readonly UploadedFile[], signal?: AbortSignal): Promise<PublishResult> {
    const r = await this.client.publishBinpkgs(
      { name, packages: files.map((f) => ({ digest: f.digest, size: BigInt(f.size) })) },
      signal === undefined ? {} : { signal },
    );
    return {
      binhost: r.name,
      timestamp: Number(r.timestamp),
      total: r.total,
      packages: r.packages.map((p) => ({
        digest: p.digest,
        path: p.path,
        cpv: p.cpv,
        buildId: p.buildId,
        duplicate: p.duplicate,
        ...(p.renumberedFrom === 0 ? {} : { renumberedFrom: p.renumberedFrom }),
      })),
    };
  }
}
