/**
 * The binhost RPCs of StagefarmService over the coordinator's BinhostService (the binhosts'
 * single writer): list, show, remove, gc, settings and publication of packages a client
 * uploaded to the farm's store. Reports are converted to messages here, nothing else.
 */
import type { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ServiceImpl } from "../../shared/grpc/index.js";
import type { BinhostService } from "../binhost/binhost-service.js";
import type { SettingsPatch } from "../binhost/maintenance.js";
import type { BinhostSettings } from "../binhost/meta.js";

type BinhostRpcs =
  "listBinhosts" | "getBinhost" | "removeBinpkgs" | "collectBinhost" | "configureBinhost" | "publishBinpkgs";

type BinhostApi = Pick<ServiceImpl<typeof StagefarmService>, BinhostRpcs>;

function required(value: string, field: string): string {
  if (value.length === 0) throw new StagefarmError("invalid_argument", `${field} is required`);
  return value;
}

function settingsMessage(s: BinhostSettings) {
  return {
    header: { ...s.header },
    priority: s.priority,
    verifySignature: s.verifySignature,
    location: s.location ?? "",
  };
}

/** `service` absent: a coordinator without binhosts; every binhost RPC says so. */
export function createBinhostApi(service: BinhostService | undefined): BinhostApi {
  const svc = (): BinhostService => {
    if (service === undefined) throw new StagefarmError("unavailable", "this coordinator keeps no binhosts");
    return service;
  };
  return {
    async listBinhosts() {
      const s = svc();
      const all = await s.list();
      return {
        store: s.store.describe,
        binhosts: all.map((b) => ({ ...b, bytes: BigInt(b.bytes), timestamp: BigInt(b.timestamp) })),
      };
    },

    async getBinhost(req) {
      const s = svc();
      const d = await s.show(required(req.name, "name"));
      return {
        store: s.store.describe,
        summary: {
          name: d.name,
          packages: d.packages,
          bytes: BigInt(d.bytes),
          timestamp: BigInt(d.timestamp),
        },
        header: d.header,
        settings: settingsMessage(d.settings),
        entries: d.entries.map((e) => ({
          path: e.path,
          cpv: e.cpv,
          buildId: e.buildId,
          buildTime: BigInt(e.buildTime),
          size: BigInt(e.size),
          use: e.use,
          ...(e.record === undefined
            ? {}
            : {
                record: {
                  digest: e.record.digest,
                  sha256: e.record.sha256,
                  publishedAt: e.record.publishedAt,
                  stage: e.record.stage ?? "",
                  run: e.record.run ?? "",
                  agent: e.record.agent ?? "",
                  renumberedFrom: e.record.renumberedFrom ?? 0,
                },
              }),
        })),
      };
    },

    async removeBinpkgs(req) {
      const r = await svc().remove(required(req.name, "name"), required(req.pathOrCpv, "path_or_cpv"));
      return { name: r.binhost, removed: r.removed, timestamp: BigInt(r.timestamp) };
    },

    async collectBinhost(req) {
      if (req.keep < 1) throw new StagefarmError("invalid_argument", "keep must be at least 1");
      const r = await svc().gc(required(req.name, "name"), { keep: req.keep, dryRun: req.dryRun });
      return {
        name: r.binhost,
        dryRun: r.dryRun,
        keep: r.keep,
        removed: r.removed.map((c) => ({ ...c, buildTime: BigInt(c.buildTime), size: BigInt(c.size) })),
        orphans: r.orphans,
        kept: r.kept,
        bytesFreed: BigInt(r.bytesFreed),
        timestamp: BigInt(r.timestamp),
      };
    },

    async configureBinhost(req) {
      const header: Record<string, string | null> = { ...req.setHeader };
      for (const k of req.unsetHeader) header[k] = null;
      if (req.clearLocation && req.location !== undefined)
        throw new StagefarmError("invalid_argument", "location and clear_location exclude each other");
      const patch: SettingsPatch = {
        header,
        ...(req.priority === undefined ? {} : { priority: req.priority }),
        ...(req.verifySignature === undefined ? {} : { verifySignature: req.verifySignature }),
        ...(req.clearLocation
          ? { location: null }
          : req.location === undefined
            ? {}
            : { location: req.location }),
      };
      const settings = await svc().configure(required(req.name, "name"), patch);
      return { settings: settingsMessage(settings) };
    },

    async publishBinpkgs(req, ctx) {
      const r = await svc().publish(
        required(req.name, "name"),
        req.packages.map((p) => ({ digest: p.digest, size: Number(p.size) })),
        { signal: ctx.signal },
      );
      return {
        name: r.binhost,
        timestamp: BigInt(r.timestamp),
        total: r.total,
        packages: r.packages.map((p) => ({ ...p, renumberedFrom: p.renumberedFrom ?? 0 })),
      };
    },
  };
}
