/**
 * A release pointer (`releases/.stagefarm/pointers/<name>.json`): the promotion `latest-<name>`
 * names now, and every promotion before it. It moves by compare-and-set (./publish.ts): a
 * promotion states the generation it read (or the digest it expects), and loses with `conflict`
 * when the pointer has moved since.
 *
 * Glossary
 * - promotion: one move of a pointer to a release: its digest (the first released file's sha256,
 *   what a `release:` input resolves to), the run and outputs it came from, its seeds, its time.
 * - seed: an input of the released run that was itself resolved from a release pointer at
 *   submit (`release: NAME`), with the digest it resolved to — the lineage of the release.
 * - generation: the number of promotions so far; the pointer's compare-and-set token.
 */
import { Readable } from "node:stream";
import { z } from "zod";
import { StagefarmError } from "../errors.js";
import type { ArtifactStore } from "../store/index.js";
import { pointerPath } from "./layout.js";

const digestSchema = z.string().regex(/^[0-9a-f]{64}$/);

export const releaseSeedSchema = z.object({
  stage: z.string(),
  input: z.string(),
  release: z.string(),
  digest: digestSchema,
  /** The run whose release the seed was (the promotion it resolved to). */
  run: z.string().optional(),
});
export type ReleaseSeed = z.infer<typeof releaseSeedSchema>;

export const releasedFileSchema = z.object({
  file: z.string(),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  stage: z.string(),
  output: z.string(),
});
export type ReleasedFile = z.infer<typeof releasedFileSchema>;

export const promotionSchema = z.object({
  generation: z.number().int().positive(),
  arch: z.string(),
  stamp: z.string(),
  digest: digestSchema,
  files: z.array(releasedFileSchema).min(1),
  run: z.string(),
  pipeline: z.string(),
  seeds: z.array(releaseSeedSchema),
  at: z.string(),
  by: z.string().optional(),
  signedBy: z.string().optional(),
});
export type Promotion = z.infer<typeof promotionSchema>;

/** Promotions kept in a pointer's history (the oldest are dropped past it). */
export const MAX_HISTORY = 1000;

export const pointerSchema = z.object({
  v: z.literal(1),
  name: z.string(),
  /** Oldest first; the last is the current promotion. */
  history: z.array(promotionSchema),
});
export type Pointer = z.infer<typeof pointerSchema>;

export function currentOf(p: Pointer | undefined): Promotion | undefined {
  return p?.history[p.history.length - 1];
}

export function generationOf(p: Pointer | undefined): number {
  return currentOf(p)?.generation ?? 0;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer | string>)
    chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

/** Reads the pointer `name`; undefined when no release was ever promoted under it. */
export async function readPointer(
  store: ArtifactStore,
  name: string,
  signal?: AbortSignal,
): Promise<Pointer | undefined> {
  const path = pointerPath(name);
  let body: Buffer;
  try {
    body = await readAll(await store.getObject(path, signal === undefined ? {} : { signal }));
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "not_found") return undefined;
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch (err: unknown) {
    throw new StagefarmError("internal", `release pointer ${path} is not JSON`, { cause: err });
  }
  const p = pointerSchema.safeParse(json);
  if (!p.success || p.data.name !== name)
    throw new StagefarmError(
      "internal",
      `release pointer ${path} is unreadable: ${p.error?.message ?? "wrong name"}`,
    );
  return p.data;
}

export async function writePointer(store: ArtifactStore, p: Pointer, signal?: AbortSignal): Promise<void> {
  const kept: Pointer = { ...p, history: p.history.slice(-MAX_HISTORY) };
  await store.putObject(
    pointerPath(p.name),
    `${JSON.stringify(kept, null, 1)}\n`,
    signal === undefined ? {} : { signal },
  );
}

/** Every pointer's name (from the store's listing). */
export async function pointerNames(store: ArtifactStore): Promise<string[]> {
  const names: string[] = [];
  for await (const o of store.listObjects(pointerPath("")))
    if (o.path.endsWith(".json")) names.push(o.path.slice(pointerPath("").length, -".json".length));
  return names.sort();
}
