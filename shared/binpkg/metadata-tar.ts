/**
 * The gpkg metadata archive: a tar (ustar) of `metadata/<KEY>` files, one per metadata key
 * (a `metadata/` directory entry may precede them). Parsed from memory (it is small), kept entry
 * by entry so it can be rebuilt with one value changed and everything else byte-identical in
 * content and header.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, pack as tarPack, type Header } from "tar-stream";

export interface MetadataEntry {
  /** As parsed, or the fields of a new entry (the name at least). */
  header: Partial<Header> & Pick<Header, "name">;
  data: Buffer;
}

const PREFIX = "metadata/";

/** Parses the (decompressed) archive; throws a plain Error describing what is wrong. */
export async function parseMetadataTar(tar: Buffer): Promise<MetadataEntry[]> {
  const entries: MetadataEntry[] = [];
  const extract = tarExtract();
  const feeding = pipeline(Readable.from([tar]), extract);
  const parsing = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      if (h.name !== PREFIX && h.name !== "metadata" && !h.name.startsWith(PREFIX))
        throw new Error(`entry ${h.name} is not under metadata/`);
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
      entries.push({ header: h, data: Buffer.concat(chunks) });
    }
  })();
  const [fed, parsed] = await Promise.allSettled([feeding, parsing]);
  if (parsed.status === "rejected") throw parsed.reason;
  if (fed.status === "rejected") throw fed.reason;
  return entries;
}

/** The key of a `metadata/<KEY>` file entry; undefined for directories and nested paths. */
export function metadataKey(h: MetadataEntry["header"]): string | undefined {
  const type = h.type ?? "file";
  if (type !== "file" && type !== "contiguous-file") return undefined;
  const key = h.name.slice(PREFIX.length);
  return key === "" || key.includes("/") ? undefined : key;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The value of a metadata file as text without trailing newlines; undefined when not UTF-8. */
export function metadataText(data: Uint8Array): string | undefined {
  try {
    return utf8.decode(data).replace(/\n+$/, "");
  } catch {
    return undefined;
  }
}

/**
 * A metadata value as portage puts it into a `Packages` index: every run of whitespace
 * (newlines included) collapsed to one space, none at either end.
 */
export function indexValue(value: string): string {
  return value
    .split(/\s+/)
    .filter((w) => w !== "")
    .join(" ");
}

/** key → text of every textual `metadata/<KEY>` file. */
export function metadataRecord(entries: readonly MetadataEntry[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const key = metadataKey(e.header);
    const text = key === undefined ? undefined : metadataText(e.data);
    if (key !== undefined && text !== undefined) out[key] = text;
  }
  return out;
}

/** Writes `entries` back into an (uncompressed) archive, headers kept. */
export async function buildMetadataTar(entries: readonly MetadataEntry[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const collecting = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  })();
  for (const e of entries) {
    const { pax: _pax, ...header } = e.header;
    await new Promise<void>((resolve, reject) => {
      pack.entry({ ...header, size: e.data.length }, e.data, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await collecting;
  return Buffer.concat(chunks);
}
