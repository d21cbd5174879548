/** Where `stagefarm get` reads from (cli/commands/get.ts): the target its arguments name, and the source its flags choose. */
import { readFile } from "node:fs/promises";
import { isLoopbackHost } from "../../coordinator/auth/index.js";
import { type DownloadTarget, parseDownloadPath } from "../../coordinator/downloads/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { CliContext } from "../context.js";
import type { ClientFlags } from "../distributed-config.js";
import { grpcSource, httpSource, storeSource, targetPath, type DownloadSource } from "./download-source.js";

export interface SourceFlags extends ClientFlags {
  url?: string;
}

/** The target the arguments name, validated by the same grammar the server applies. */
export function targetOf(args: string[]): DownloadTarget {
  const path =
    args.length === 1
      ? `/api/v1/artifacts/${encodeURIComponent(args[0] ?? "")}`
      : args.length === 3
        ? targetPath({ t: "output", run: args[0] ?? "", stage: args[1] ?? "", output: args[2] ?? "" })
        : undefined;
  const t = path === undefined ? undefined : parseDownloadPath(path);
  if (t === undefined)
    throw new StagefarmError("invalid_argument", "usage: get RUN STAGE OUTPUT | get DIGEST");
  return t;
}

export async function withSource<T>(
  ctx: CliContext,
  flags: SourceFlags,
  fn: (s: DownloadSource) => Promise<T>,
): Promise<T> {
  const url = flags.url;
  const coordinator = flags.coordinator;
  if ((url === undefined || url === "") && coordinator !== undefined && coordinator !== "") {
    const { withClient } = await import("../commands/remote-client.js");
    return withClient(flags, (client) => fn(grpcSource(client)));
  }
  if (url === undefined || url === "") {
    const { FsArtifactStore } = await import("../../shared/store/index.js");
    const store = await FsArtifactStore.open(ctx.config().storeDir);
    try {
      return await fn(storeSource(store));
    } finally {
      await store.close();
    }
  }
  const token = flags.token;
  const ca = flags.ca;
  const u = new URL(url);
  if (token !== undefined && u.protocol === "http:" && !isLoopbackHost(u.hostname) && flags.insecure !== true)
    throw new StagefarmError(
      "invalid_argument",
      `refusing to send a token in clear text to ${u.host}: use an https:// URL, or --insecure`,
    );
  return fn(
    httpSource({
      url,
      ...(token === undefined || token === "" ? {} : { token }),
      ...(ca === undefined || ca === "" ? {} : { ca: await readFile(ca) }),
    }),
  );
}
