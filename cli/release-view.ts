/** Promotions as `stagefarm release` prints them, from the API's messages or a local store. */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Promotion as PromotionMessage } from "../proto/gen/stagefarm/v1/release_pb.js";
import { StagefarmError } from "../shared/errors.js";
import { readPointer, releaseName } from "../shared/release/index.js";
import { FsArtifactStore } from "../shared/store/index.js";
import { quoted } from "../shared/util/excerpt.js";
import type { PromotionView } from "./commands/release.js";
import type { ClientFlags } from "./distributed-config.js";
import { withClient } from "./commands/remote-client.js";

export function promotionView(p: PromotionMessage): PromotionView {
  return {
    generation: p.generation,
    arch: p.arch,
    stamp: p.stamp,
    digest: p.digest,
    run: p.run,
    pipeline: p.pipeline,
    at: p.at === undefined ? "" : timestampDate(p.at).toISOString(),
    ...(p.by === "" ? {} : { by: p.by }),
    ...(p.signedBy === "" ? {} : { signedBy: p.signedBy }),
    files: p.files.map((f) => ({
      file: f.file,
      digest: f.digest,
      size: Number(f.size),
      stage: f.stage,
      output: f.output,
    })),
    seeds: p.seeds.map((s) => ({
      stage: s.stage,
      input: s.input,
      release: s.release,
      digest: s.digest,
      ...(s.run === "" ? {} : { run: s.run }),
    })),
  };
}

export interface ReleaseLog {
  name: string;
  promotions: PromotionView[];
}

export async function remoteLog(flags: ClientFlags, name: string): Promise<ReleaseLog> {
  return withClient(flags, async (client) => {
    const res = await client.releaseLog({ name });
    return { name: res.name, promotions: res.promotions.map(promotionView) };
  });
}

export async function localLog(storeDir: string, text: string): Promise<ReleaseLog> {
  const name = releaseName(text);
  const store = await FsArtifactStore.open(storeDir);
  try {
    const p = await readPointer(store, name);
    if (p === undefined)
      throw new StagefarmError("not_found", `no release has been promoted under ${quoted(text)}`);
    return { name, promotions: p.history };
  } finally {
    await store.close();
  }
}
