/**
 * Child-process entry of the s3rver test harness (./s3rver.ts): runs s3rver on 127.0.0.1.
 *
 *   node s3rver-main.js --port PORT --dir DIR      (PORT 0: any free port)
 *
 * Prints `READY <port>` on stdout once listening. Runs until killed or until its stdin closes
 * (the parent died), so a crashed test run leaves no server behind.
 *
 * Plain s3rver answers ListMultipartUploads (`GET /bucket?uploads`, which the minio client sends
 * before every multipart upload) with 501 and has no AbortMultipartUpload. A middleware in front
 * answers the first with an empty list and the second with 204, removing the upload's parts.
 *
 * s3rver also ignores `encoding-type=url` on ListObjects and returns raw keys, which the minio
 * client (asking for url encoding, as S3 clients do) then decodes: a `+` (dev-libs/libsigc++)
 * would come back as a space. A second middleware encodes the listed keys as S3 and MinIO do.
 */
import { rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parseArgs } from "node:util";

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, unknown>;
  status: number;
  type: string;
  body: unknown;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface S3rver {
  middleware: Middleware[];
  run(): Promise<AddressInfo>;
}
type S3rverConstructor = new (opts: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: unknown[];
}) => S3rver;

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function multipartStubs(directory: string): Middleware {
  return async (ctx, next) => {
    const [bucket = "", ...key] = ctx.path.replace(/^\//, "").split("/");
    const objectKey = key.join("/");
    if (ctx.method === "GET" && "uploads" in ctx.query && bucket !== "" && objectKey === "") {
      ctx.status = 200;
      ctx.type = "application/xml";
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?>\n' +
        '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        `<Bucket>${xmlEscape(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
        "<NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker>" +
        "<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";
      return;
    }
    const uploadId = ctx.query.uploadId;
    if (ctx.method === "DELETE" && typeof uploadId === "string" && objectKey !== "") {
      // s3rver keeps an upload's parts in <dir>/<bucket>/._S3rver_uploads/<uploadId>/.
      if (/^[A-Za-z0-9_-]+$/.test(uploadId) && /^[a-z0-9.-]+$/.test(bucket))
        await rm(join(directory, bucket, "._S3rver_uploads", uploadId), { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = null;
      return;
    }
    await next();
  };
}

/** S3's url encoding of listed names: every byte but unreserved characters and "/". */
function s3UrlEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/%2F/g, "/")
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function listingEncoding(): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.method !== "GET" || ctx.query["encoding-type"] !== "url" || typeof ctx.body !== "string") return;
    if (!ctx.body.includes("<ListBucketResult")) return;
    const encoded = ctx.body.replace(
      /<(Key|Prefix|StartAfter|NextMarker|Marker|Delimiter)>([^<]*)<\/\1>/g,
      (_m, tag: string, text: string) => `<${tag}>${s3UrlEncode(unescapeXml(text))}</${tag}>`,
    );
    ctx.body = encoded.includes("<EncodingType>")
      ? encoded
      : encoded.replace("</Name>", "</Name><EncodingType>url</EncodingType>");
  };
}

function unescapeXml(s: string): string {
  return s
    .replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n)))
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: "string" }, dir: { type: "string" } } });
  const port = Number(values.port ?? "0");
  const directory = values.dir;
  if (directory === undefined || !Number.isInteger(port))
    throw new Error("usage: s3rver-main --port N --dir DIR");
  const require = createRequire(import.meta.url);
  const S3rverClass = require("s3rver") as S3rverConstructor;
  const server = new S3rverClass({
    address: "127.0.0.1",
    port,
    directory,
    silent: true,
    configureBuckets: [],
  });
  // Koa composes `middleware` when the server starts listening: this runs before s3rver's routes.
  server.middleware.unshift(multipartStubs(directory), listingEncoding());
  const address = await server.run();
  // The parent holds our stdin open: when it goes (even killed), so does this server.
  process.stdin.on("close", () => process.exit(0));
  process.stdin.resume();
  process.stdout.write(`READY ${address.port}\n`);
}

function fail(err: unknown): never {
  process.stderr.write(`s3rver failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

// s3rver reports a failed listen() as an 'error' event, not as a rejection.
process.on("uncaughtException", fail);
try {
  await main();
} catch (err: unknown) {
  fail(err);
}
