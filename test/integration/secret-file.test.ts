/**
 * The one reader of secret files (shared/secret-file.ts) on a real filesystem, and its NATS
 * callers: a TLS key or credentials file other users may access is refused naming the file, its
 * mode and `chmod 600`; a directory, a missing file and an oversized file are refused clearly.
 * (The gRPC side's callers, the auth file and TLS keys, are covered in auth-config.test.ts.)
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StagefarmError } from "../../shared/errors.js";
import { checkNatsTlsFiles, createNkeyUser, readNatsCredentials } from "../../shared/nats/index.js";
import { readSecretFile } from "../../shared/secret-file.js";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sf-secret-file-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function refusedWith(pattern: RegExp, details?: Record<string, unknown>): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof StagefarmError, String(err));
    assert.equal(err.code, "invalid_argument");
    assert.match(err.message, pattern);
    if (details !== undefined) assert.deepEqual(err.details, details);
    return true;
  };
}

void describe("readSecretFile", () => {
  void test("mode 0600 is read; group or other bits are refused with the mode and the fix", async () => {
    const file = join(dir, "key.pem");
    await writeFile(file, "secret-bytes\n", { mode: 0o600 });
    await chmod(file, 0o600);
    assert.equal((await readSecretFile(file, "TLS key")).toString("utf8"), "secret-bytes\n");
    for (const mode of [0o640, 0o604, 0o620, 0o602, 0o610, 0o601]) {
      await chmod(file, mode);
      const shown = `0${mode.toString(8)}`;
      await assert.rejects(
        readSecretFile(file, "TLS key"),
        refusedWith(
          new RegExp(
            `^TLS key ${file} is accessible to other users \\(mode ${shown}\\): run \`chmod 600 ${file}\``,
          ),
          { path: file, mode: shown },
        ),
      );
    }
  });

  void test("the content never appears in the error", async () => {
    const file = join(dir, "loose.creds");
    await writeFile(file, "build-1:hunter2\n", { mode: 0o644 });
    await chmod(file, 0o644);
    await assert.rejects(readSecretFile(file, "NATS credentials file"), (err: unknown) => {
      assert.ok(err instanceof Error && !err.message.includes("hunter2"));
      return true;
    });
  });

  void test("a directory, a missing file and a file over 1 MiB are refused, naming the file", async () => {
    const sub = join(dir, "a-dir");
    await mkdir(sub, { mode: 0o700 });
    await assert.rejects(
      readSecretFile(sub, "auth file"),
      refusedWith(/^auth file .*a-dir is not a regular file$/),
    );
    await assert.rejects(
      readSecretFile(join(dir, "none"), "auth file"),
      refusedWith(/^auth file .*none cannot be read: .*ENOENT/),
    );
    const big = join(dir, "big");
    await writeFile(big, Buffer.alloc((1 << 20) + 1), { mode: 0o600 });
    await assert.rejects(readSecretFile(big, "TLS key"), refusedWith(/^TLS key .*big is larger than 1 MiB/));
  });
});

void describe("NATS secret files", () => {
  void test("a NATS TLS key other users may read is refused before connecting", async () => {
    const key = join(dir, "nats.key");
    await writeFile(key, "-----BEGIN PRIVATE KEY-----\n", { mode: 0o600 });
    await chmod(key, 0o600);
    const cert = join(dir, "nats.crt");
    await writeFile(cert, "-----BEGIN CERTIFICATE-----\n");
    await checkNatsTlsFiles({ certFile: cert, keyFile: key });
    await chmod(key, 0o644);
    await assert.rejects(
      checkNatsTlsFiles({ certFile: cert, keyFile: key }),
      refusedWith(/^NATS TLS key .*nats\.key is accessible to other users \(mode 0644\): run `chmod 600 /),
    );
    await assert.rejects(
      checkNatsTlsFiles({ certFile: cert, keyFile: join(dir, "no.key") }),
      refusedWith(/^NATS TLS key .*no\.key cannot be read/),
    );
  });

  void test("a NATS credentials file other users may write is refused", async () => {
    const file = join(dir, "agent.creds");
    await writeFile(file, `${createNkeyUser().seed}\n`, { mode: 0o600 });
    await chmod(file, 0o620);
    await assert.rejects(
      readNatsCredentials(file),
      refusedWith(/^NATS credentials file .*agent\.creds is accessible to other users \(mode 0620\)/),
    );
  });
});
