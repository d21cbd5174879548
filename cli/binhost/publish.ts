/**
 * `stagefarm binhost publish FILE… --binhost NAME`: packages built elsewhere, added without a
 * pipeline. Each file is checked here first (a regular file, a binary package the reader
 * accepts: container, Manifest, CATEGORY/PF), so a refusal names the file and the reason before
 * anything is uploaded; then every file is stored in the writer's CAS and published by digest,
 * all or nothing. A refusal of the writer (it names the package by digest) is told by file.
 */
import { stat } from "node:fs/promises";
import { readBinpkg } from "../../shared/binpkg/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { PublishResult } from "../../shared/protocol/binhost.js";
import type { BinhostBackend, UploadedFile } from "./backend.js";

async function checkFile(file: string): Promise<void> {
  const st = await stat(file).catch((err: unknown) => {
    throw new StagefarmError("not_found", `cannot publish ${file}: no such file`, { cause: err });
  });
  if (!st.isFile())
    throw new StagefarmError("invalid_argument", `cannot publish ${file}: not a regular file`);
  try {
    await readBinpkg(file);
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    const reason = e.message.replace(`binary package ${file}: `, "");
    throw new StagefarmError(e.code, `cannot publish ${file}: ${reason}`, { cause: e, details: e.details });
  }
}

/** The writer's refusal with the package named by its file instead of its digest. */
function byFile(err: unknown, files: readonly UploadedFile[]): StagefarmError {
  const e = StagefarmError.from(err);
  const digest = e.details["digest"];
  const f = typeof digest === "string" ? files.find((x) => x.digest === digest) : undefined;
  if (f === undefined) return e;
  const message = e.message.replace(/sha256:[0-9a-f]{12}(?: from stage \S+)?/g, f.file);
  return new StagefarmError(e.code, message.includes(f.file) ? message : `${f.file}: ${message}`, {
    cause: e,
    details: { ...e.details, file: f.file },
  });
}

export async function publishFiles(
  backend: BinhostBackend,
  name: string,
  files: readonly string[],
): Promise<{ result: PublishResult; uploaded: UploadedFile[] }> {
  for (const f of files) await checkFile(f);
  const uploaded: UploadedFile[] = [];
  for (const f of files) uploaded.push(await backend.upload(f));
  try {
    return { result: await backend.publish(name, uploaded), uploaded };
  } catch (err: unknown) {
    throw byFile(err, uploaded);
  }
}
