/**
 * Which binhosts `stagefarm binhost …` acts on, never guessed silently:
 * - a farm when a coordinator is named (`--coordinator` or STAGEFARM_COORDINATOR): every
 *   command goes through it, the binhosts' single writer; `publish` uploads to the farm's S3
 *   store (`--s3` or STAGEFARM_S3_URL) first;
 * - the farm's S3 store read directly when only `--s3` (STAGEFARM_S3_URL) is given: `ls`,
 *   `show` and `conf` only; a change without the coordinator is refused, as it would race it;
 * - else the local store (`--store`, STAGEFARM_STORE).
 * Each command says on stderr which one it used.
 */
import { parseS3Url } from "../../shared/config/s3-url.js";
import { StagefarmError } from "../../shared/errors.js";
import { FsArtifactStore, openS3Store, type ArtifactStore } from "../../shared/store/index.js";
import { withClient } from "../commands/remote-client.js";
import type { CliContext } from "../context.js";
import type { ClientFlags } from "../distributed-config.js";
import { LocalBinhostBackend, type BinhostBackend } from "./backend.js";
import { FarmBinhostBackend } from "./farm-backend.js";

export type BinhostFlags = ClientFlags & { s3?: string };

function given(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

async function withLocal<T>(
  ctx: CliContext,
  store: ArtifactStore,
  where: string,
  fn: (b: BinhostBackend) => Promise<T>,
): Promise<T> {
  const backend = new LocalBinhostBackend(store, ctx.logger(ctx.config().logLevel), where);
  try {
    ctx.stderr.write(`stagefarm binhost: ${where}\n`);
    return await fn(backend);
  } finally {
    await backend.close();
    await store.close();
  }
}

/** Runs `fn` on the backend the flags and environment choose; `writes`: the command changes a binhost. */
export async function withBackend<T>(
  ctx: CliContext,
  flags: BinhostFlags,
  writes: boolean,
  fn: (b: BinhostBackend) => Promise<T>,
): Promise<T> {
  // The flags hold their environment variables (commander's Option.env) and the context's values.
  const coordinator = given(flags.coordinator);
  const s3 = given(flags.s3);
  if (coordinator !== undefined) {
    let store: ArtifactStore | undefined;
    const openStore = async (): Promise<ArtifactStore> => {
      if (s3 === undefined)
        throw new StagefarmError(
          "invalid_argument",
          `publishing to the farm at ${coordinator} uploads the files to its S3 store first: pass --s3 URL (or set STAGEFARM_S3_URL)`,
        );
      store ??= await openS3Store(parseS3Url(s3));
      return store;
    };
    try {
      return await withClient(flags, async (client) => {
        const where = `farm coordinator ${coordinator}`;
        ctx.stderr.write(`stagefarm binhost: ${where}\n`);
        return fn(new FarmBinhostBackend(client, where, openStore));
      });
    } finally {
      await store?.close();
    }
  }
  if (s3 !== undefined) {
    if (writes)
      throw new StagefarmError(
        "invalid_argument",
        "the farm's binhosts are changed by its coordinator (their single writer), not in its S3 store: pass --coordinator HOST:PORT (or set STAGEFARM_COORDINATOR)",
      );
    const store = await openS3Store(parseS3Url(s3));
    return withLocal(ctx, store, `farm store ${store.describe} (read directly)`, fn);
  }
  const store = await FsArtifactStore.open(ctx.config().storeDir);
  return withLocal(ctx, store, `local store ${store.describe}`, fn);
}
