/**
 * The record of a released file (`releases/.stagefarm/files/<arch>/<stamp>/<file>.json`): the
 * CAS blob that is served as `releases/<arch>/autobuilds/<stamp>/<file>` (the blob is the one
 * copy of the bytes; the record keeps it reachable for garbage collection).
 */
import type { Readable } from "node:stream";
import { z } from "zod";
import { StagefarmError } from "../errors.js";
import type { ArtifactStore } from "../store/index.js";
import { fileRecordPath } from "./layout.js";

export const fileRecordSchema = z.object({
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});
export type FileRecord = z.infer<typeof fileRecordSchema>;

async function text(stream: Readable): Promise<string> {
  let s = "";
  for await (const c of stream as AsyncIterable<Buffer | string>) {
    s += c.toString();
    if (s.length > 4096) break;
  }
  stream.destroy();
  return s;
}

/** Parses a record's text; a malformed record is the store's fault (`internal`). */
export function parseFileRecord(body: string, path: string): FileRecord {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err: unknown) {
    throw new StagefarmError("internal", `release file record ${path} is not JSON`, { cause: err });
  }
  const r = fileRecordSchema.safeParse(json);
  if (!r.success)
    throw new StagefarmError("internal", `release file record ${path} is unreadable: ${r.error.message}`);
  return r.data;
}

export async function readFileRecordAt(store: ArtifactStore, path: string): Promise<FileRecord | undefined> {
  let body: string;
  try {
    body = await text(await store.getObject(path));
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "not_found") return undefined;
    throw e;
  }
  return parseFileRecord(body, path);
}

export function readFileRecord(
  store: ArtifactStore,
  arch: string,
  stamp: string,
  file: string,
): Promise<FileRecord | undefined> {
  return readFileRecordAt(store, fileRecordPath(arch, stamp, file));
}

export async function writeFileRecord(
  store: ArtifactStore,
  arch: string,
  stamp: string,
  file: string,
  rec: FileRecord,
  signal?: AbortSignal,
): Promise<void> {
  await store.putObject(
    fileRecordPath(arch, stamp, file),
    `${JSON.stringify(rec)}\n`,
    signal === undefined ? {} : { signal },
  );
}
