/**
 * The release RPCs of StagefarmService over the coordinator's ReleaseService
 * (../releases/release-service.ts): PublishRelease (admin) and ReleaseLog (viewer). Promotions
 * are converted to messages here, nothing else.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { PromotionSchema } from "../../proto/gen/stagefarm/v1/release_pb.js";
import type { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ServiceImpl } from "../../shared/grpc/index.js";
import { isDigest } from "../../shared/digest.js";
import { releaseName, type Promotion, type ReleaseExpectation } from "../../shared/release/index.js";
import type { ReleaseService } from "../releases/index.js";

type ReleaseApi = Pick<ServiceImpl<typeof StagefarmService>, "publishRelease" | "releaseLog">;

export function promotionMessage(p: Promotion): MessageInitShape<typeof PromotionSchema> {
  return {
    generation: p.generation,
    arch: p.arch,
    stamp: p.stamp,
    digest: p.digest,
    files: p.files.map((f) => ({ ...f, size: BigInt(f.size) })),
    run: p.run,
    pipeline: p.pipeline,
    seeds: p.seeds.map((s) => ({ ...s, run: s.run ?? "" })),
    at: timestampFromDate(new Date(p.at)),
    by: p.by ?? "",
    signedBy: p.signedBy ?? "",
  };
}

/** The `expect` field: "" (the generation found), "none", or a digest. */
export function expectationOf(text: string): ReleaseExpectation | undefined {
  if (text === "") return undefined;
  if (text === "none") return { t: "none" };
  if (isDigest(text)) return { t: "digest", digest: text };
  throw new StagefarmError("invalid_argument", 'expect must be "none" or a sha256 digest');
}

/** `service` absent: a coordinator that publishes no releases; both RPCs say so. */
export function createReleaseApi(service: ReleaseService | undefined): ReleaseApi {
  const svc = (): ReleaseService => {
    if (service === undefined)
      throw new StagefarmError("unavailable", "this coordinator publishes no releases");
    return service;
  };
  return {
    async publishRelease(req, ctx) {
      if (req.runId === "") throw new StagefarmError("invalid_argument", "run_id is required");
      const expect = expectationOf(req.expect);
      const promotion = await svc().publish(
        {
          run: req.runId,
          outputs: req.outputs,
          name: req.name,
          arch: req.arch === "" ? "amd64" : req.arch,
          ...(req.stamp === "" ? {} : { stamp: req.stamp }),
          ...(expect === undefined ? {} : { expect }),
          ...(req.signKey === "" ? {} : { signKey: req.signKey }),
          ...(ctx.principal === undefined ? {} : { by: ctx.principal.name }),
        },
        ctx.signal,
      );
      return { name: releaseName(req.name), promotion: promotionMessage(promotion) };
    },

    async releaseLog(req) {
      const p = await svc().pointer(req.name);
      return { name: p.name, promotions: p.history.map(promotionMessage) };
    },
  };
}
