/**
 * What the S3-role tests need to judge requests against the shipped MinIO policies
 * (deploy/minio/policy-*.json) without a MinIO: s3rver, the test S3 server, enforces no
 * policy at all.
 *
 * - `evaluate(policy, action, resource)`: the IAM subset those policies use: Allow and Deny
 *   statements, `Action` and `Resource` as strings or lists with `*` and `?` wildcards, an
 *   explicit Deny winning, nothing allowed by default. A `Condition` or `NotAction`/
 *   `NotResource` is refused, so a policy that starts using one fails these tests rather
 *   than being judged wrongly.
 * - `actionsOf(request)`: the S3 permissions one path-style request needs, as AWS and MinIO
 *   document them (a copy also needs s3:GetObject on its source).
 * - `RecordingProxy`: an HTTP proxy in front of the S3 server that records every request.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { closeHttp, listenHttp } from "../../shared/util/http-listen.js";

export interface Statement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action: string | string[];
  Resource: string | string[];
}

export interface Policy {
  Version: string;
  Statement: Statement[];
}

const KNOWN_KEYS = new Set(["Sid", "Effect", "Action", "Resource"]);

/** Reads a policy, with the bucket name `stagefarm` in its ARNs replaced by `bucket`. */
export async function loadPolicy(file: string, bucket: string): Promise<Policy> {
  const text = (await readFile(file, "utf8")).replaceAll("arn:aws:s3:::stagefarm", `arn:aws:s3:::${bucket}`);
  const policy = JSON.parse(text) as Policy;
  assert.equal(policy.Version, "2012-10-17");
  for (const s of policy.Statement) {
    const unknown = Object.keys(s).filter((k) => !KNOWN_KEYS.has(k));
    assert.deepEqual(
      unknown,
      [],
      `${file}: statement ${s.Sid ?? "?"} uses keys this evaluator does not know`,
    );
    assert.ok(s.Effect === "Allow" || s.Effect === "Deny");
  }
  return policy;
}

function glob(pattern: string, value: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(value);
}

const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

/** Whether `policy` allows `action` on `resource` (an explicit Deny wins). */
export function evaluate(policy: Policy, action: string, resource: string): boolean {
  const matching = policy.Statement.filter(
    (s) =>
      list(s.Action).some((a) => glob(a.toLowerCase(), action.toLowerCase())) &&
      list(s.Resource).some((r) => glob(r, resource)),
  );
  if (matching.some((s) => s.Effect === "Deny")) return false;
  return matching.some((s) => s.Effect === "Allow");
}

export interface S3Request {
  method: string;
  /** The request path, URL-decoded: `/bucket` or `/bucket/key`. */
  path: string;
  query: URLSearchParams;
  /** The `x-amz-copy-source` header, decoded (`/bucket/key` or `bucket/key`). */
  copySource: string | undefined;
}

export interface Needed {
  action: string;
  resource: string;
}

/** The permissions one S3 request needs (path-style addressing). */
export function actionsOf(req: S3Request): Needed[] {
  const [bucket = "", ...rest] = req.path.replace(/^\//, "").split("/");
  const key = rest.join("/");
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const objectArn = `arn:aws:s3:::${bucket}/${key}`;
  const q = req.query;
  if (key === "") {
    if (req.method === "HEAD") return [{ action: "s3:ListBucket", resource: bucketArn }];
    if (req.method === "PUT" && [...q.keys()].length === 0)
      return [{ action: "s3:CreateBucket", resource: bucketArn }];
    if (req.method === "GET" && q.has("uploads"))
      return [{ action: "s3:ListBucketMultipartUploads", resource: bucketArn }];
    if (req.method === "GET" && q.has("location"))
      return [{ action: "s3:GetBucketLocation", resource: bucketArn }];
    if (req.method === "GET") return [{ action: "s3:ListBucket", resource: bucketArn }];
    return [{ action: `unknown:${req.method} bucket ?${q.toString()}`, resource: bucketArn }];
  }
  const source = (): Needed[] =>
    req.copySource === undefined
      ? []
      : [
          {
            action: "s3:GetObject",
            resource: `arn:aws:s3:::${req.copySource.replace(/^\//, "").split("?")[0] ?? ""}`,
          },
        ];
  switch (req.method) {
    case "HEAD":
      return [{ action: "s3:GetObject", resource: objectArn }];
    case "GET":
      return [
        { action: q.has("uploadId") ? "s3:ListMultipartUploadParts" : "s3:GetObject", resource: objectArn },
      ];
    case "PUT":
    case "POST":
      return [{ action: "s3:PutObject", resource: objectArn }, ...source()];
    case "DELETE":
      return [
        { action: q.has("uploadId") ? "s3:AbortMultipartUpload" : "s3:DeleteObject", resource: objectArn },
      ];
    default:
      return [{ action: `unknown:${req.method}`, resource: objectArn }];
  }
}

/** An HTTP proxy to the S3 server at `target` that records every request it forwards. */
export class RecordingProxy implements AsyncDisposable {
  readonly requests: S3Request[] = [];
  readonly #server: http.Server;

  private constructor(server: http.Server) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<RecordingProxy> {
    const server = http.createServer();
    const proxy = new RecordingProxy(server);
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://proxy");
      const copy = req.headers["x-amz-copy-source"];
      proxy.requests.push({
        method: req.method ?? "GET",
        path: decodeURIComponent(url.pathname),
        query: url.searchParams,
        copySource: typeof copy === "string" ? decodeURIComponent(copy) : undefined,
      });
      const up = http.request(
        { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    });
    await listenHttp(server, "127.0.0.1", 0, "the S3 proxy");
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await closeHttp(this.#server, 0);
  }
}
