/**
 * Re-reading the auth file (SIGHUP): a good file replaces the tokens in force from the next call
 * on; a file that fails its checks (content, mode) is refused, logged, and the previous tokens
 * stay; an authenticator without an auth file cannot be turned into one.
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Authenticator, authReloader, loadAuthConfig } from "../../coordinator/auth/index.js";
import {
  generateToken,
  sha256Hex,
  parseAuthConfig,
  tokenCredential,
} from "../../coordinator/auth/testing.js";
import { AuthError } from "../../shared/grpc/index.js";
import { pino } from "pino";

describe("auth file reload", () => {
  test("revokes, refuses a broken file, keeps open mode open", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-auth-reload-"));
    try {
      const [a, b] = [generateToken(), generateToken()];
      const line = (name: string, token: string): string =>
        `  - { name: ${name}, role: viewer, sha256: ${sha256Hex(token)} }`;
      const file = join(dir, "auth.yaml");
      await writeFile(file, `tokens:\n${line("a", a)}\n${line("b", b)}\n`, { mode: 0o600 });
      const auth = Authenticator.fromConfig(await loadAuthConfig(file));
      const records: Array<Record<string, unknown>> = [];
      const logger = pino(
        { level: "info" },
        { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) },
      );
      const reloader = authReloader(auth, file, logger);
      assert.equal(auth.authenticate(tokenCredential(a)).name, "a");

      await writeFile(file, `tokens:\n${line("b", b)}\n`, { mode: 0o600 });
      assert.equal(await reloader.reload(), true);
      assert.throws(
        () => auth.authenticate(tokenCredential(a)),
        (e: unknown) => e instanceof AuthError,
      );
      assert.equal(auth.authenticate(tokenCredential(b)).name, "b");

      // Refused: bad content, then a file others may read. b stays in force.
      await writeFile(file, "tokens: [ { name: x } ]\n", { mode: 0o600 });
      assert.equal(await reloader.reload(), false);
      await writeFile(file, `tokens:\n${line("a", a)}\n`);
      await chmod(file, 0o644);
      assert.equal(await reloader.reload(), false);
      assert.equal(auth.authenticate(tokenCredential(b)).name, "b");
      assert.throws(
        () => auth.authenticate(tokenCredential(a)),
        (e: unknown) => e instanceof AuthError,
      );
      const refused = records.filter(
        (r) => r["msg"] === "auth file refused; the previous one stays in force",
      );
      assert.equal(refused.length, 2, JSON.stringify(records));

      // Reloads queue: two at once both run, the last file wins.
      await chmod(file, 0o600);
      const both = await Promise.all([reloader.reload(), reloader.reload()]);
      assert.deepEqual(both, [true, true]);
      assert.equal(auth.authenticate(tokenCredential(a)).name, "a");

      // Open mode stays open.
      const open = Authenticator.open();
      assert.throws(() => open.reload(parseAuthConfig("tokens: []", "x")), /without --auth/);
      assert.equal(open.enforcing, false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
