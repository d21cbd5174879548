/**
 * The auth file and other secret files on a real filesystem: refused when other users can read or
 * write them (naming the file and `chmod 600`), invalid content reported with its place; the
 * exposure check that keeps non-loopback listeners from serving without TLS and tokens; the
 * logger's redaction of credentials; `certs token` expiry parsing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expiryOf } from "../../cli/commands/certs.js";
import {
  Authenticator,
  checkExposure,
  isLoopbackHost,
  loadAuthConfig,
} from "../../coordinator/auth/index.js";
import { sha256Hex, parseAuthConfig, tokenCredential } from "../../coordinator/auth/testing.js";
import { StagefarmError } from "../../shared/errors.js";
import { AuthError } from "../../shared/grpc/index.js";
import { readSecretFile } from "../../shared/secret-file.js";
import { createLogger } from "../../shared/log.js";
import { authFileText, makeTokens, writeAuthFile } from "../helpers/auth-fixtures.js";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sf-auth-config-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("secret files", () => {
  for (const mode of [0o644, 0o640, 0o604, 0o620, 0o660])
    test(`an auth file with mode ${mode.toString(8)} is refused, naming the file and the fix`, async () => {
      const file = await writeAuthFile(join(dir, `m${mode.toString(8)}`), authFileText(makeTokens()));
      await chmod(file, mode);
      await assert.rejects(loadAuthConfig(file), (err: unknown) => {
        assert.ok(err instanceof StagefarmError && err.code === "invalid_argument");
        assert.match(
          err.message,
          new RegExp(`auth file ${file} is accessible to other users \\(mode 0${mode.toString(8)}\\)`),
        );
        assert.match(err.message, new RegExp(`chmod 600 ${file}`));
        return true;
      });
    });

  test("mode 0600 is read; a directory or a missing file is refused clearly", async () => {
    const t = makeTokens();
    const file = await writeAuthFile(join(dir, "ok"), authFileText(t, "anonymous: viewer\n"));
    const cfg = await loadAuthConfig(file);
    assert.equal(cfg.tokens.length, 4);
    assert.equal(cfg.anonymous, "viewer");
    assert.equal(cfg.metrics, "viewer");
    const sub = join(dir, "a-dir");
    await mkdir(sub, { mode: 0o700 });
    await assert.rejects(readSecretFile(sub, "TLS key"), /TLS key .*a-dir is not a regular file/);
    await assert.rejects(readSecretFile(join(dir, "none"), "TLS key"), /TLS key .*none cannot be read/);
  });

  test("invalid auth files are refused with the place of each problem", () => {
    const hash = sha256Hex("x");
    const bad: Array<[string, RegExp]> = [
      [`tokens: [{ name: a, role: root, sha256: ${hash} }]`, /tokens\[0\]\.role/],
      ["tokens: [{ name: a, role: admin, sha256: abc }]", /expected the sha256 in hex/],
      [`tokens: [{ name: a, role: admin, sha256: ${hash}, token: sft_x }]`, /Unrecognized key: "token"/],
      [
        `tokens: [{ name: a, role: admin, sha256: ${hash} }, { name: a, role: viewer, sha256: ${sha256Hex("y")} }]`,
        /duplicate name a/,
      ],
      [
        `tokens: [{ name: a, role: admin, sha256: ${hash} }, { name: b, role: viewer, sha256: ${hash} }]`,
        /the same token twice/,
      ],
      ["anonymous: admin", /anonymous/],
      [`tokens: [{ name: a, role: admin, sha256: ${hash}, expires: soon }]`, /expected a date/],
      ["tokens: [", /auth file f\.yaml/],
      ["tokenz: []", /Unrecognized key: "tokenz"/],
    ];
    for (const [text, why] of bad) assert.throws(() => parseAuthConfig(text, "f.yaml"), why, text);
  });

  test("an expiry date is honoured against the clock", () => {
    const t = makeTokens();
    const cfg = parseAuthConfig(
      `tokens: [{ name: ci, role: submitter, sha256: ${sha256Hex(t.submitter)}, expires: 2030-06-01T00:00:00Z }]`,
      "f.yaml",
    );
    const cred = tokenCredential(t.submitter);
    const before2030 = Authenticator.fromConfig(cfg, { now: () => Date.parse("2030-05-31T23:59:59Z") });
    assert.deepEqual(before2030.authenticate(cred), { name: "ci", role: "submitter" });
    const after2030 = Authenticator.fromConfig(cfg, { now: () => Date.parse("2030-06-01T00:00:00Z") });
    assert.throws(
      () => after2030.authenticate(cred),
      (e: unknown) => e instanceof AuthError && e.code === "unauthenticated",
    );
    assert.equal(expiryOf("2027-01-02"), "2027-01-02T00:00:00.000Z");
    assert.equal(expiryOf("90d", Date.parse("2027-01-01T00:00:00Z")), "2027-04-01T00:00:00.000Z");
  });
});

describe("exposure", () => {
  test("loopback hosts", () => {
    for (const h of ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"]) assert.ok(isLoopbackHost(h), h);
    for (const h of ["", "0.0.0.0", "::", "10.0.0.5", "farm.example", "128.0.0.1"])
      assert.ok(!isLoopbackHost(h), h);
  });

  const grpc = (host: string, tls: boolean) => ({ what: "gRPC", flag: "--listen", host, port: 7420, tls });

  test("loopback needs nothing; elsewhere TLS and an auth file, or --insecure with the risks listed", () => {
    assert.deepEqual(checkExposure([grpc("127.0.0.1", false)], { auth: false, insecure: false }), []);
    assert.deepEqual(checkExposure([grpc("10.0.0.5", true)], { auth: true, insecure: false }), []);
    assert.throws(
      () => checkExposure([grpc("0.0.0.0", false)], { auth: true, insecure: false }),
      /refusing to serve:\n {2}gRPC on 0\.0\.0\.0:7420 \(--listen\) is reachable from other hosts without TLS.*--tls-cert and --tls-key[\s\S]*--insecure/,
    );
    assert.throws(
      () => checkExposure([grpc("", true)], { auth: false, insecure: false }),
      /gRPC on \*:7420 \(--listen\) is reachable from other hosts without authentication.*--auth FILE/,
    );
    const risks = checkExposure([grpc("10.0.0.5", false)], { auth: false, insecure: true });
    assert.equal(risks.length, 2);
    // --plain-http lets the HTTP listener off TLS alone, with a warning; it still needs tokens.
    const http = { what: "HTTP", flag: "--http", host: "10.0.0.5", port: 9464, tls: false, plainOk: true };
    assert.deepEqual(checkExposure([http], { auth: true, insecure: false }), [
      "HTTP on 10.0.0.5:9464 (--http) serves plain text (--plain-http): tokens sent to it cross the network in clear",
    ]);
    assert.throws(() => checkExposure([http], { auth: false, insecure: false }), /without authentication/);
  });
});

describe("logs", () => {
  test("credentials under well-known keys are redacted, also one level down and in headers", async () => {
    const file = join(dir, "log.jsonl");
    const fd = openSync(file, "w");
    try {
      const log = createLogger({ fd, level: "info" });
      log.info(
        {
          password: "pw-1",
          cfg: { s3Url: "http://a:secret-2@h:1/b", secretKey: "secret-3", name: "kept" },
          req: { headers: { authorization: "Bearer sft_secret-4", cookie: "stagefarm_token=secret-5" } },
        },
        "hello",
      );
      log.flush();
    } finally {
      closeSync(fd);
    }
    const text = await readFile(file, "utf8");
    for (const s of ["pw-1", "secret-2", "secret-3", "secret-4", "secret-5"]) assert.ok(!text.includes(s), s);
    assert.match(text, /"name":"kept"/);
    assert.match(text, /\[redacted\]/);
  });
});

test("a private key readable by others is refused before use", async () => {
  const key = join(dir, "server.key");
  await writeFile(key, "-----BEGIN PRIVATE KEY-----\n", { mode: 0o644 });
  await chmod(key, 0o644);
  await assert.rejects(
    readSecretFile(key, "TLS key"),
    /TLS key .*server\.key is accessible to other users \(mode 0644\).*chmod 600/,
  );
});
