/**
 * The coordinator's releases: publishing a run's outputs (shared/release/publish.ts) as the
 * store's single writer, and reading a pointer's promotion log. Transports adapt to it: the gRPC
 * PublishRelease/ReleaseLog calls (../api/stagefarm-api.ts); the HTTP route only reads the store
 * (./http.ts).
 */
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import { quoted } from "../../shared/util/excerpt.js";
import type { PipelineSpec } from "../../shared/pipeline/index.js";
import {
  PointerLocks,
  publishRelease,
  readPointer,
  releaseName,
  type Pointer,
  type Promotion,
  type ReleaseExpectation,
  type SigningKey,
} from "../../shared/release/index.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import type { RunDoc } from "../service/run-doc.js";
import { releaseSources } from "./sources.js";

export interface ReleaseServiceDeps {
  store: ArtifactStore;
  getRun(id: string): Promise<RunDoc>;
  /** Parses a run's stored pipeline text (off the event loop, within bounds). */
  parse(yaml: string, path: string): Promise<PipelineSpec>;
  logger: Logger;
  /** Signs every release with this key (`--release-sign-key`); a request may name another. */
  signingKey?: SigningKey;
}

export interface ReleaseRequest {
  run: string;
  /** `STAGE:OUTPUT`; empty: every file output with a release extension. */
  outputs: string[];
  name: string;
  arch: string;
  stamp?: string;
  expect?: ReleaseExpectation;
  /** A key id to sign with, in the configured keyring. */
  signKey?: string;
  by?: string;
}

export class ReleaseService {
  private readonly locks = new PointerLocks();
  private readonly log: Logger;

  constructor(private readonly deps: ReleaseServiceDeps) {
    this.log = deps.logger.child({ component: "releases" });
  }

  async publish(req: ReleaseRequest, signal?: AbortSignal): Promise<Promotion> {
    const doc = await this.deps.getRun(req.run);
    const spec = await this.deps.parse(doc.yaml, doc.path);
    const sources = releaseSources(doc, spec, req.outputs);
    const configured = this.deps.signingKey;
    const signingKey = req.signKey === undefined ? configured : { ...(configured ?? {}), keyId: req.signKey };
    const promotion = await publishRelease(
      {
        store: this.deps.store,
        locks: this.locks,
        ...(signingKey === undefined ? {} : { signingKey }),
        ...(signal === undefined ? {} : { signal }),
      },
      {
        name: req.name,
        arch: req.arch,
        ...(req.stamp === undefined ? {} : { stamp: req.stamp }),
        run: doc.id,
        pipeline: doc.pipeline,
        seeds: doc.releaseInputs ?? [],
        sources,
        ...(req.expect === undefined ? {} : { expect: req.expect }),
        ...(req.by === undefined ? {} : { by: req.by }),
      },
    );
    this.log.info(
      {
        release: releaseName(req.name),
        generation: promotion.generation,
        run: doc.id,
        stamp: promotion.stamp,
      },
      "promoted a release",
    );
    return promotion;
  }

  /** The pointer `name` with its history; `not_found` when nothing was promoted under it. */
  async pointer(name: string): Promise<Pointer> {
    const p = await readPointer(this.deps.store, releaseName(name));
    if (p === undefined)
      throw new StagefarmError("not_found", `no release has been promoted under ${quoted(name)}`);
    return p;
  }
}
