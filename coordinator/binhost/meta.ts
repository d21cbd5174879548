/**
 * stagefarm's own record of a binhost, `binhost/<name>/stagefarm.json`, kept beside the index
 * and never served: which run, stage and agent published each package path, the CAS digest
 * the agent uploaded, the sha256 of the object served (they differ when the BUILD_ID was
 * rewritten), the binhost's settings (extra index header keys, the binrepos.conf values), and
 * the profile keys its publishers' indexes carried.
 * Portage never sees it; `Packages` holds only keys portage knows.
 *
 * It is written by the single writer (the BinhostService) before the index, so it may name a
 * path the index does not list yet (a failed index write): readers join it with the index.
 */
import { z } from "zod";
import { StagefarmError } from "../../shared/errors.js";

const digest = z.string().regex(/^[0-9a-f]{64}$/);

export const packageRecordSchema = z.object({
  /** sha256 of the bytes the agent uploaded (its CAS digest). */
  digest,
  /** sha256 of the object served at the path. */
  sha256: digest,
  publishedAt: z.string(),
  stage: z.string().optional(),
  run: z.string().optional(),
  agent: z.string().optional(),
  /** The BUILD_ID inside the uploaded package when it was renumbered. */
  renumberedFrom: z.number().int().nonnegative().optional(),
});
export type PackageRecord = z.infer<typeof packageRecordSchema>;

export const binhostSettingsSchema = z.object({
  /** Extra header keys of the index (ARCH, ACCEPT_KEYWORDS, PROFILE, …). */
  header: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string()).default({}),
  /** binrepos.conf `priority`. */
  priority: z.number().int().default(9999),
  /** binrepos.conf `verify-signature` (portage's default binrepos.conf says true). */
  verifySignature: z.boolean().default(false),
  /** binrepos.conf `location`, when clients should keep this binhost's packages apart. */
  location: z.string().optional(),
});
export type BinhostSettings = z.infer<typeof binhostSettingsSchema>;

export const binhostMetaSchema = z.object({
  v: z.literal(1),
  settings: binhostSettingsSchema.default(() => binhostSettingsSchema.parse({})),
  /** By package path (the index's PATH). */
  packages: z.record(z.string(), packageRecordSchema).default({}),
  /**
   * The publishers' profile keys merged (shared/binhost/profile-header.ts): the index header
   * carries them under the configured keys, so clients without the profile can evaluate USE.
   */
  profile: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string()).default({}),
});
export type BinhostMeta = z.infer<typeof binhostMetaSchema>;

export function emptyMeta(): BinhostMeta {
  return binhostMetaSchema.parse({ v: 1 });
}

export function parseMeta(text: string, where: string): BinhostMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err: unknown) {
    throw new StagefarmError("corrupt_artifact", `${where} is not valid JSON`, { cause: err });
  }
  const r = binhostMetaSchema.safeParse(raw);
  if (!r.success)
    throw new StagefarmError(
      "corrupt_artifact",
      `${where} is not a binhost record: ${z.prettifyError(r.error)}`,
    );
  return r.data;
}

export function renderMeta(meta: BinhostMeta): string {
  const packages = Object.fromEntries(Object.entries(meta.packages).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${JSON.stringify({ ...meta, packages }, null, 2)}\n`;
}
