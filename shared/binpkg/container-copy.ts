/**
 * Writes a gpkg container that copies another one member by member under a new basename, with
 * a replacement metadata archive and a new Manifest (written last). Copied members are streamed
 * (never held in memory) and hashed again on the way; one that no longer matches the Manifest
 * the source was verified against aborts the copy with `corrupt_artifact`.
 *
 * Protocol: the output is created exclusively (`wx`) and synced; on any failure the first
 * failure (reading, copying or writing) is thrown and the partial output is left for the caller
 * to remove. The digests of the written bytes are returned.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { open } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, pack as tarPack, type Header, type Pack } from "tar-stream";
import { StagefarmError } from "../errors.js";
import { corrupt } from "./binpkg-error.js";
import { FileHasher, MemberHasher, type FileDigests, type MemberDigests } from "./digests.js";
import { MANIFEST_MEMBER, type GpkgContents } from "./gpkg-read.js";
import { entryLine, manifestLine, manifestMismatch } from "./manifest.js";
import { skipEntry } from "../util/skip-entry.js";

/** What `pack.entry` takes: any header fields, the name required. */
export type EntryHeader = Partial<Header> & Pick<Header, "name">;

export interface CopyPlan {
  /** The source container, verified: `gpkg` is what reading it found. */
  file: string;
  gpkg: GpkgContents;
  basename: string;
  /** The new metadata archive (compressed like the old one) and its digests. */
  metadataBytes: Buffer;
  metadataDigests: MemberDigests;
}

export async function writeContainerCopy(
  plan: CopyPlan,
  out: string,
  signal: AbortSignal | undefined,
): Promise<FileDigests> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  const pack = tarPack();
  const hasher = new FileHasher();
  let failure: { err: unknown } | undefined;
  const fail = (err: unknown): void => {
    failure ??= { err };
    stop.abort();
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  try {
    const writing = pipeline(pack, hasher, createWriteStream(out, { flags: "wx", mode: 0o644 }));
    const copying = copyMembers(plan, pack, stop.signal).then(() => pack.finalize());
    await Promise.allSettled([writing.catch(fail), copying.catch(fail)]);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  if (failure !== undefined) throw failure.err;
  // fsync through a second descriptor: a FileHandle that fed a stream never closes (node 20).
  const fh = await open(out, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  return hasher.digests();
}

async function copyMembers(plan: CopyPlan, pack: Pack, stop: AbortSignal): Promise<void> {
  const { gpkg, file } = plan;
  const stopped = new Promise<never>((_resolve, reject) => {
    const rejectNow = (): void => reject(new StagefarmError("cancelled", `copying ${file} was stopped`));
    if (stop.aborted) rejectNow();
    else stop.addEventListener("abort", rejectNow, { once: true });
  });
  stopped.catch(() => undefined); // observed only where it is raced
  const extract = tarExtract();
  // The signal goes to the pipeline, not the read stream: a stream given a signal is destroyed
  // with an AbortError even after the pipeline has finished with it, and that error then has no
  // listener (an uncaught exception that took down the process).
  const feeding = pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), extract, { signal: stop });
  const lines: string[] = [];
  const copying = (async () => {
    for await (const entry of extract) {
      const member = entry.header.name.slice(entry.header.name.indexOf("/") + 1);
      if (member === MANIFEST_MEMBER) {
        skipEntry(entry);
        continue;
      }
      const scanned = gpkg.scan.members.find((m) => m.name === member);
      const listed = gpkg.manifest.entries.get(member);
      if (scanned === undefined || listed === undefined)
        throw corrupt(file, `member ${entry.header.name} appeared since the package was verified`);
      const header: EntryHeader = { ...scanned.header, name: `${plan.basename}/${member}`, type: "file" };
      if (member === gpkg.metadataMember.name) {
        skipEntry(entry);
        await writeEntry(pack, { ...header, size: plan.metadataBytes.length }, [plan.metadataBytes], stopped);
        lines.push(manifestLine(member, plan.metadataDigests));
        continue;
      }
      const rehash = new MemberHasher();
      const chunks = (async function* () {
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          rehash.update(chunk);
          yield chunk;
        }
      })();
      await writeEntry(pack, { ...header, size: listed.size }, chunks, stopped);
      const why = manifestMismatch(listed, rehash.digest());
      if (why !== undefined) throw corrupt(file, `member ${member} changed while it was copied: ${why}`);
      lines.push(entryLine(listed));
    }
  })();
  const [fed, copied] = await Promise.allSettled([feeding, copying]);
  if (copied.status === "rejected") throw copied.reason;
  if (fed.status === "rejected") throw fed.reason;
  const manifest = Buffer.from(lines.map((l) => `${l}\n`).join(""));
  const old = gpkg.scan.members.find((m) => m.name === MANIFEST_MEMBER)?.header;
  const header = { ...old, name: `${plan.basename}/${MANIFEST_MEMBER}`, type: "file" as const };
  await writeEntry(pack, { ...header, size: manifest.length }, [manifest], stopped);
}

/** Writes one entry of `header.size` bytes into `pack`, honouring backpressure. */
async function writeEntry(
  pack: Pack,
  header: EntryHeader,
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
  stopped: Promise<never>,
): Promise<void> {
  let finish: (err?: Error | null) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = (err) => (err ? reject(err) : resolve());
  });
  // Observed only where it is raced at the end: when the chunks fail first, the entry's own
  // failure (the pack destroyed by the abort) must not surface as an unhandled rejection.
  done.catch(() => undefined);
  const sink = pack.entry(header, (err) => finish(err));
  // A streamx entry destroyed with the pack also emits its error; the callback above reports it,
  // and without a listener the emit would be an uncaught exception.
  sink.on("error", () => undefined);
  for await (const chunk of chunks) {
    if (!sink.write(chunk)) {
      // When `stopped` wins the race, the entry is destroyed afterwards and `once` rejects with
      // the abort: that is the entry's failure, already reported through `done`, not a new one.
      const drained = once(sink, "drain");
      drained.catch(() => undefined);
      await Promise.race([drained, stopped]);
    }
  }
  sink.end(undefined);
  await Promise.race([done, stopped]);
}
