/**
 * A server that cannot listen says so in one line naming the address and the likely cause,
 * without a stack trace (issue 20: "a port already in use prints a stack trace").
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { CliSandbox } from "../helpers/cli.js";

async function occupy(): Promise<Server & AsyncDisposable> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return Object.assign(server, {
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

void describe("listen failures", { timeout: 120_000 }, () => {
  void test("stagefarm up on a port in use: one line naming the address, exit 1, no stack", async () => {
    await using sb = await CliSandbox.create();
    await using taken = await occupy();
    const address = `127.0.0.1:${(taken.address() as AddressInfo).port}`;
    const r = await sb.run(["up", "--http", address]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr,
      `stagefarm: error: the HTTP server cannot listen on ${address}: the address is already in use (another stagefarm, or another service on that port?)\n`,
    );
  });

  void test("an address no interface has is named as such", async () => {
    await using sb = await CliSandbox.create();
    // TEST-NET-1 (RFC 5737): never assigned to a host; binding to it is EADDRNOTAVAIL.
    const r = await sb.run(["up", "--http", "192.0.2.1:9464", "--insecure"]);
    assert.equal(r.code, 1, r.stderr);
    // Before it, the two --insecure warnings (logged); the error itself is the last line.
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(
      lines.at(-1),
      "stagefarm: error: the HTTP server cannot listen on 192.0.2.1:9464: no network interface of this host has that address",
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });
});
