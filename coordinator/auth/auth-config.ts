/**
 * The coordinator's auth file (`stagefarm coordinator --auth FILE`), YAML or JSON:
 *
 *   tokens:                       # who may call; only the sha256 of each token is stored
 *     - { name: alice, role: admin, sha256: 3f…e1 }
 *     - { name: ci, role: submitter, sha256: 9a…07, expires: 2027-01-01 }
 *   anonymous: viewer             # optional: requests without a token are viewers
 *   metrics: open                 # optional: /metrics without a token (default: viewer)
 *   binhost_auth:                 # optional: /binhost/ needs HTTP basic auth (default: anonymous)
 *     { user: portage, sha256: 5e…2c }   # sha256 of the password
 *
 * The file holds no secret but decides who owns the farm: like a key, it must not be readable or
 * writable by other users (`chmod 600`), else it is refused.
 */
import { z } from "zod";
import { StagefarmError } from "../../shared/errors.js";
import { readSecretFile } from "../../shared/secret-file.js";
import { parseYamlData } from "../../shared/yaml/index.js";
import { ROLES } from "./roles.js";

const sha256 = z
  .string()
  .regex(
    /^[0-9a-f]{64}$/,
    "expected the sha256 in hex (64 characters 0-9 a-f; stagefarm certs token prints it)",
  );

const when = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), "expected a date (2027-01-01 or an ISO time)");

const tokenEntry = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, "letters, digits and _ . @ - (at most 64)"),
  role: z.enum(ROLES),
  sha256,
  expires: z.union([when, z.date().transform((d) => d.toISOString())]).optional(),
});

const authFileSchema = z
  .strictObject({
    tokens: z.array(tokenEntry).default([]),
    anonymous: z.enum(["viewer"]).optional(),
    metrics: z.enum(["open", "viewer"]).default("viewer"),
    binhost_auth: z.strictObject({ user: z.string().min(1).max(64), sha256 }).optional(),
  })
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    const hashes = new Set<string>();
    cfg.tokens.forEach((t, i) => {
      if (names.has(t.name))
        ctx.addIssue({ code: "custom", path: ["tokens", i, "name"], message: `duplicate name ${t.name}` });
      if (hashes.has(t.sha256))
        ctx.addIssue({ code: "custom", path: ["tokens", i, "sha256"], message: "the same token twice" });
      names.add(t.name);
      hashes.add(t.sha256);
    });
  });

export type AuthConfig = z.infer<typeof authFileSchema>;
export type TokenEntry = AuthConfig["tokens"][number];

/** Parses an auth file's text; `file` names it in errors. */
export function parseAuthConfig(text: string, file: string): AuthConfig {
  // Bounded like every YAML document (size, depth, keys, aliases): see shared/yaml/bounds.ts.
  const raw = parseYamlData(text, `auth file ${file}`) ?? {};
  const r = authFileSchema.safeParse(raw);
  if (!r.success)
    throw new StagefarmError(
      "invalid_argument",
      `auth file ${file} is invalid:\n${z.prettifyError(r.error)}`,
    );
  return r.data;
}

/** Reads and checks the auth file (refused when other users can read or write it). */
export async function loadAuthConfig(file: string): Promise<AuthConfig> {
  const bytes = await readSecretFile(file, "auth file");
  return parseAuthConfig(bytes.toString("utf8"), file);
}
