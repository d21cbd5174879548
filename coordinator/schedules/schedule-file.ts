/**
 * The schedule file (`stagefarm coordinator --schedules FILE`, `stagefarm up --schedules FILE`),
 * YAML read with the bounds of shared/yaml:
 *
 *   notify: scheduled            # which runs notify the global targets: scheduled (default) | all
 *   webhook: https://hooks.example.org/stagefarm   # global: POST of the run's JSON summary
 *   command: [/usr/local/bin/mail-run, releng@example.org]   # global: argv, the JSON on stdin
 *   dashboard_url: https://farm.example.org        # optional: base of the links in notifications
 *   schedules:
 *     - name: weekly-release
 *       cron: "0 3 * * 0"         # minute hour day-of-month month day-of-week (seconds first: 6 fields)
 *       timezone: Europe/Berlin   # IANA name (default UTC)
 *       pipeline: catalyst-release   # a name in the server's --pipelines DIR, never a path
 *       params: { seed: 4f6c…e1 }
 *       overlap: skip             # skip (default) | queue | allow
 *       webhook: https://…        # optional, besides the global targets
 *       command: [/usr/local/bin/…]
 *
 * Problems are `invalid_argument` errors naming FILE:line:col.
 */
import { readFile } from "node:fs/promises";
import { isNode, type Document } from "yaml";
import { z } from "zod";
import { StagefarmError } from "../../shared/errors.js";
import { hasUserinfo, redactUrl } from "../../shared/util/redact-url.js";
import { readYamlDocument, parseYamlData } from "../../shared/yaml/index.js";
import { cronProblem } from "./cron.js";

/** Largest schedule file read (it is operator config: small). */
export const MAX_SCHEDULE_FILE_BYTES = 256 * 1024;
/** The URL schemes a webhook may use. */
export const WEBHOOK_SCHEMES = ["http:", "https:"] as const;
export const OVERLAP_POLICIES = ["skip", "queue", "allow"] as const;

function webhookProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `webhook ${redactUrl(text).slice(0, 200)} is not a URL`;
  }
  const schemes: readonly string[] = WEBHOOK_SCHEMES;
  if (!schemes.includes(url.protocol)) return `webhook ${redactUrl(text)} must be http or https`;
  if (hasUserinfo(url))
    return `webhook ${redactUrl(text)} carries a user name or password; put a token in its path or query instead`;
  return undefined;
}

const webhook = z
  .string()
  .max(2048)
  .superRefine((s, ctx) => {
    const p = webhookProblem(s);
    if (p !== undefined) ctx.addIssue({ code: "custom", message: p });
  });
const command = z.array(z.string().min(1).max(4096)).min(1).max(64);
const zone = z
  .string()
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat("en", { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, "not a time zone (an IANA name such as UTC or Europe/Berlin)");

const entrySchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "letters, digits and . _ - (at most 64)"),
    cron: z.string().max(256),
    timezone: zone.default("UTC"),
    pipeline: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a pipeline name, not a path"),
    params: z
      .record(
        z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "a param name (lowercase letters, digits, _ and -)"),
        z.union([z.string().max(64 * 1024), z.number(), z.boolean()]).transform(String),
      )
      .default({}),
    overlap: z.enum(OVERLAP_POLICIES).default("skip"),
    webhook: webhook.optional(),
    command: command.optional(),
  })
  .superRefine((e, ctx) => {
    const p = cronProblem(e.cron, e.timezone);
    if (p !== undefined) ctx.addIssue({ code: "custom", path: ["cron"], message: p });
  });

const fileSchema = z
  .strictObject({
    notify: z.enum(["scheduled", "all"]).default("scheduled"),
    webhook: webhook.optional(),
    command: command.optional(),
    dashboard_url: z
      .string()
      .max(2048)
      .refine((s) => webhookProblem(s) === undefined, "an http(s) URL without user name or password")
      .optional(),
    schedules: z.array(entrySchema).max(1000).default([]),
  })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.schedules.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({
          code: "custom",
          path: ["schedules", i, "name"],
          message: `a second schedule ${s.name}`,
        });
      seen.add(s.name);
    });
  });

export type ScheduleFile = z.infer<typeof fileSchema>;
export type ScheduleEntry = ScheduleFile["schedules"][number];

/** Parses a schedule file's text; `file` names it in errors (FILE:line:col: message). */
export function parseScheduleFile(text: string, file: string): ScheduleFile {
  const raw = parseYamlData(text, file) ?? {};
  const r = fileSchema.safeParse(raw);
  if (r.success) return r.data;
  const read = readYamlDocument(text);
  const lines = r.error.issues.map((issue) => {
    const offset = read.t === "parsed" ? offsetOf(read.doc, issue.path) : 0;
    const { line, col } = read.lines.linePos(offset);
    const where = issue.path.length === 0 ? "" : ` (${issue.path.join(".")})`;
    return `${file}:${Math.max(line, 1)}:${Math.max(col, 1)}: ${issue.message}${where}`;
  });
  throw new StagefarmError("invalid_argument", lines.join("\n"));
}

/** The offset of the deepest node of `path` the document has (the key's, for a missing child). */
function offsetOf(doc: Document.Parsed, path: readonly PropertyKey[]): number {
  for (let n = path.length; n > 0; n--) {
    const node: unknown = doc.getIn(path.slice(0, n).map(String), true);
    if (isNode(node) && node.range !== undefined && node.range !== null) return node.range[0];
  }
  return isNode(doc.contents) && doc.contents.range !== null ? doc.contents.range[0] : 0;
}

/** Reads and checks a schedule file. */
export async function loadScheduleFile(file: string): Promise<ScheduleFile> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_SCHEDULE_FILE_BYTES)
      throw new StagefarmError("invalid_argument", `${file}: larger than ${MAX_SCHEDULE_FILE_BYTES} bytes`);
    text = bytes.toString("utf8");
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "invalid_argument") throw e;
    throw new StagefarmError("invalid_argument", `schedule file ${file}: ${e.message}`, { cause: err });
  }
  return parseScheduleFile(text, file);
}
