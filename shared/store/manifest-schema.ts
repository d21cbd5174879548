/**
 * Validation of action-cache manifests. Every store parses manifests through here on read (a
 * manifest that does not parse is `corrupt_artifact`, never returned) and checks them on write
 * (a malformed record is `invalid_argument`, never stored).
 */
import { z } from "zod";
import { StagefarmError } from "../errors.js";
import type { Manifest } from "./types.js";

const digest = z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 digest (64 lowercase hex characters)");

const manifestSchema = z.object({
  v: z.literal(1),
  key: digest,
  pipeline: z.string().min(1),
  stage: z.string().min(1),
  runner: z.string().min(1),
  outputs: z.record(
    z.string(),
    z.object({
      digest,
      size: z.number().int().nonnegative(),
      kind: z.enum(["tree", "file"]),
    }),
  ),
  log: z.string().optional(),
  createdAt: z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO 8601 timestamp"),
  durationMs: z.number().nonnegative(),
  producer: z.string(),
});

function describeIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`).join("; ");
}

/** Parses stored manifest text; throws `corrupt_artifact` naming `where` if it is not a valid manifest. */
export function parseManifest(text: string, where: string, expectedKey?: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    throw new StagefarmError(
      "corrupt_artifact",
      `manifest ${where} is corrupt: not valid JSON (${e.message})`,
      {
        cause: e,
        details: { manifest: where },
      },
    );
  }
  const r = manifestSchema.safeParse(json);
  if (!r.success)
    throw new StagefarmError("corrupt_artifact", `manifest ${where} is corrupt: ${describeIssues(r.error)}`, {
      details: { manifest: where },
    });
  if (expectedKey !== undefined && r.data.key !== expectedKey)
    throw new StagefarmError(
      "corrupt_artifact",
      `manifest ${where} is corrupt: it records key ${r.data.key} but is stored under ${expectedKey}`,
      { details: { manifest: where } },
    );
  return r.data;
}

/** Checks a manifest before it is written; throws `invalid_argument` describing what is wrong. */
export function checkManifest(m: Manifest): Manifest {
  const r = manifestSchema.safeParse(m);
  if (!r.success)
    throw new StagefarmError(
      "invalid_argument",
      `refusing to store manifest for stage "${String(m.stage)}": ${describeIssues(r.error)}`,
    );
  return r.data;
}
