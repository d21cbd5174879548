/**
 * Which store `stagefarm cache`, `plan` and `stats` use, never guessed silently (as
 * `stagefarm binhost`, ../binhost/choose.ts):
 * - a farm through its coordinator when one is named (`--coordinator` or STAGEFARM_COORDINATOR),
 *   the farm store's single writer: every command, with the caller's token and role;
 * - the farm's S3 store read directly when only `--s3` (STAGEFARM_S3_URL) is given: reads only
 *   (`ls`, `show`, `plan`, `stats`); `rm` and `gc` are refused, as they would race the coordinator;
 * - else the local store (`--store`, STAGEFARM_STORE).
 * Each command says on stderr which one it used.
 */
import { parseS3Url } from "../../shared/config/s3-url.js";
import { StagefarmError } from "../../shared/errors.js";
import { FsArtifactStore, openS3Store, type ArtifactStore } from "../../shared/store/index.js";
import { withClient } from "../commands/remote-client.js";
import type { CliContext } from "../context.js";
import type { CacheFlags } from "./options.js";
import { FarmCacheSource } from "./farm-source.js";
import { StoreCacheSource, type CacheSource } from "./source.js";

function given(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

/** Runs `fn` on the source the flags and environment choose; `writes`: the command changes the cache. */
export async function withCacheSource<T>(
  ctx: CliContext,
  command: string,
  flags: CacheFlags,
  writes: boolean,
  fn: (s: CacheSource) => Promise<T>,
): Promise<T> {
  // The flags hold their environment variables (commander's Option.env) and the context's values.
  const coordinator = given(flags.coordinator);
  const s3 = given(flags.s3);
  const say = (where: string): void => void ctx.stderr.write(`stagefarm ${command}: ${where}\n`);
  if (coordinator !== undefined)
    return withClient(flags, async (client) => {
      const source = new FarmCacheSource(client, `farm coordinator ${coordinator}`);
      say(source.where);
      return fn(source);
    });
  let store: ArtifactStore;
  let source: CacheSource;
  if (s3 !== undefined) {
    if (writes)
      throw new StagefarmError(
        "invalid_argument",
        "the farm's cache is changed by its coordinator (the store's single writer), not in its S3 store: pass --coordinator HOST:PORT (or set STAGEFARM_COORDINATOR)",
      );
    store = await openS3Store(parseS3Url(s3));
    source = new StoreCacheSource(store, `farm store ${store.describe} (read directly)`, undefined);
  } else {
    const cfg = ctx.config();
    store = await FsArtifactStore.open(cfg.storeDir);
    source = new StoreCacheSource(store, `local store ${store.describe}`, ctx.logger(cfg.logLevel));
  }
  try {
    say(source.where);
    return await fn(source);
  } finally {
    await store.close();
  }
}
