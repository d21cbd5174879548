/**
 * The S3 artifact store's location, given as one URL:
 *
 *   http(s)://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX…][?region=REGION]
 *
 * Access key and secret are percent-decoded (write `/` as `%2F`, `@` as `%40`, `#` as `%23`,
 * `:` in the access key as `%3A`). PREFIX places the store's keys under `PREFIX/` in the bucket.
 * The region defaults to `us-east-1` (what MinIO and s3rver expect).
 *
 * Errors are `invalid_argument` and show the URL with the secret replaced by `***`: no message
 * made here ever contains the secret.
 */
import { StagefarmError } from "../errors.js";

export interface S3Config {
  /** Host name or IP address (an IPv6 address without brackets). */
  endPoint: string;
  port: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Key prefix inside the bucket without leading or trailing '/', "" for none. */
  prefix: string;
  region: string;
}

export const DEFAULT_S3_REGION = "us-east-1";

const FORM = "http(s)://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?region=REGION]";
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION_RE = /^[A-Za-z0-9_-]+$/;
/** A `.` or `..` path segment, also percent-encoded (URL parsing would silently resolve them). */
const DOT_SEGMENT_RE = /\/(?:\.|%2e){1,2}(?=\/|\?|#|$)/i;

/**
 * Replaces the secret in an S3 URL (everything between the first ':' of the user info and the
 * last '@' before the host) with `***`. Works on strings that are not valid URLs too; when in
 * doubt it hides more, never less.
 */
export function maskS3Url(url: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url);
  if (scheme === null) return url.includes("@") ? "***" : url;
  const rest = url.slice(scheme[0].length);
  const at = rest.lastIndexOf("@");
  if (at < 0) return url;
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(":");
  const user = colon < 0 ? "***" : `${userinfo.slice(0, colon)}:***`;
  return `${scheme[0]}${user}${rest.slice(at)}`;
}

/** `s3://HOST:PORT/BUCKET[/PREFIX]`: where a store lives, without credentials. */
export function describeS3(cfg: S3Config): string {
  const host = cfg.endPoint.includes(":") ? `[${cfg.endPoint}]` : cfg.endPoint;
  const prefix = cfg.prefix === "" ? "" : `/${cfg.prefix}`;
  return `s3://${host}:${cfg.port}/${cfg.bucket}${prefix}`;
}

function decodePart(raw: string, what: string, bad: (why: string) => StagefarmError): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    // The value itself is never shown: it may be (part of) the secret.
    throw bad(`the ${what} is not valid percent-encoding`);
  }
}

/** Parses an S3 store URL (see the module comment); throws `invalid_argument` naming what is wrong. */
export function parseS3Url(input: string): S3Config {
  const url = input.trim();
  const shown = maskS3Url(url);
  const bad = (why: string): StagefarmError =>
    new StagefarmError("invalid_argument", `invalid S3 URL "${shown}": ${why} (expected ${FORM})`, {
      details: { url: shown },
    });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad("it is not a valid URL (percent-encode special characters in the access key and secret)");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw bad(`the scheme must be http or https, not "${u.protocol.replace(/:$/, "")}"`);
  if (u.hash !== "") throw bad("it must not have a '#' fragment (write '#' in the secret as %23)");
  if (u.username === "") throw bad("the access key is missing");
  if (u.password === "") throw bad("the secret key is missing");
  const accessKey = decodePart(u.username, "access key", bad);
  const secretKey = decodePart(u.password, "secret key", bad);
  const endPoint = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (endPoint === "") throw bad("the host is missing");
  const useSSL = u.protocol === "https:";
  const port = u.port === "" ? (useSSL ? 443 : 80) : Number(u.port);
  if (port === 0) throw bad("the port must be 1-65535");

  const afterScheme = url.slice(url.indexOf("//") + 2);
  const pathStart = afterScheme.indexOf("/", afterScheme.lastIndexOf("@") + 1);
  if (pathStart >= 0 && DOT_SEGMENT_RE.test(afterScheme.slice(pathStart)))
    throw bad("'.' and '..' path segments are not allowed");
  const segments = u.pathname.replace(/^\//, "").replace(/\/$/, "").split("/");
  const [bucket = "", ...prefixSegments] = segments;
  if (bucket === "") throw bad("the bucket is missing");
  if (!BUCKET_RE.test(bucket) || bucket.includes(".."))
    throw bad(
      `bucket name "${bucket}" must be 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`,
    );
  const prefix = prefixSegments.map((s) => decodePart(s, "key prefix", bad)).join("/");
  if (prefix !== "" && prefix.split("/").some((s) => s === "" || s === "." || s === ".."))
    throw bad("the key prefix must not have empty, '.' or '..' segments");

  let region = DEFAULT_S3_REGION;
  for (const [name, value] of u.searchParams) {
    if (name !== "region") throw bad(`unknown query parameter "${name}" (only "region" is accepted)`);
    if (!REGION_RE.test(value)) throw bad(`region "${value}" must be letters, digits, '-' or '_'`);
    region = value;
  }
  return { endPoint, port, useSSL, accessKey, secretKey, bucket, prefix, region };
}
