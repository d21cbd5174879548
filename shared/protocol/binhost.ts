/**
 * The farm binhost's messages (distributed mode). Agents never write a binhost: they upload
 * the package files to the shared store's CAS, then ask the coordinator, the binhost's single
 * writer, to publish them.
 *
 *   agent ── publish request ──► <prefix>.binhost.publish  (request/reply)
 *            {binhost, packages: [{digest, size, stage?, run?, agent?}], profile?}
 *        ◄── {ok: true, result} | {ok: false, error: {code, message, details}}
 *   agent ── conf request ─────► <prefix>.binhost.conf     (request/reply)
 *            {binhost, baseUrl}
 *        ◄── {ok: true, conf} | {ok: false, error}
 *
 * A publish is all or nothing per request: one refused package (corrupt, not a binary package,
 * metadata without CATEGORY/PF) refuses the request and leaves the index as it was. A package
 * whose bytes are already published is not an error: it is reported as a duplicate with the
 * path that has it (portage's getbinpkg puts fetched packages into PKGDIR, and the emerge
 * runner collects what is new there; a retried request must not fail either).
 */
import { z } from "zod";

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "binhost names: lowercase letters, digits, _ and -");
const digest = z.string().regex(/^[0-9a-f]{64}$/);

export const binhostPackageRefSchema = z.object({
  /** sha256 of the package file, already in the store's CAS. */
  digest,
  size: z.number().int().nonnegative(),
  /** `<pipeline>/<stage>` that built it. */
  stage: z.string().max(256).optional(),
  run: z.string().max(64).optional(),
  agent: z.string().max(64).optional(),
});
export type BinhostPackageRef = z.infer<typeof binhostPackageRefSchema>;

export const binhostPublishRequestSchema = z.object({
  v: z.literal(1),
  binhost: name,
  packages: z.array(binhostPackageRefSchema).min(1).max(2_000),
  /**
   * The profile keys of the header of the PKGDIR index the packages were collected from
   * (IUSE_IMPLICIT, USE_EXPAND*, ARCH: shared/binhost/profile-header.ts), merged into the
   * binhost's index header. Checked by the writer (checkProfileHeader).
   */
  profile: z.record(z.string().max(128), z.string().max(65_536)).optional(),
});
export type BinhostPublishRequest = z.infer<typeof binhostPublishRequestSchema>;

export const publishedPackageSchema = z.object({
  digest,
  /** Path of the package under the binhost (its `PATH` in Packages). */
  path: z.string(),
  cpv: z.string(),
  buildId: z.number().int().positive(),
  /** Already published with these bytes: nothing was written for it. */
  duplicate: z.boolean(),
  /** The BUILD_ID the package carried when it had to be renumbered (absent: kept its own). */
  renumberedFrom: z.number().int().nonnegative().optional(),
});
export type PublishedPackage = z.infer<typeof publishedPackageSchema>;

export const publishResultSchema = z.object({
  binhost: name,
  /** The index's TIMESTAMP after this publication. */
  timestamp: z.number().int().nonnegative(),
  /** Packages in the index after this publication. */
  total: z.number().int().nonnegative(),
  packages: z.array(publishedPackageSchema),
});
export type PublishResult = z.infer<typeof publishResultSchema>;

const errorSchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).default({}),
});

export const binhostPublishReplySchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), result: publishResultSchema }),
  z.object({ ok: z.literal(false), error: errorSchema }),
]);
export type BinhostPublishReply = z.infer<typeof binhostPublishReplySchema>;

export const binhostConfRequestSchema = z.object({
  v: z.literal(1),
  binhost: name,
  /** Where the coordinator's HTTP server is reachable from the asking host, e.g. http://farm:9464 */
  baseUrl: z.string().regex(/^https?:\/\/[^\s]+$/, "an http(s):// URL"),
});

export const binhostConfReplySchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), conf: z.string() }),
  z.object({ ok: z.literal(false), error: errorSchema }),
]);
export type BinhostConfReply = z.infer<typeof binhostConfReplySchema>;
