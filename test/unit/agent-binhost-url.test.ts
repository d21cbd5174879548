/** `stagefarm agent --binhost-url`: where the agent's stages reach the binhost, checked up front. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { binhostUrl } from "../../cli/commands/agent.js";
import { StagefarmError } from "../../shared/errors.js";

const refused =
  (...mentions: string[]) =>
  (err: unknown): boolean => {
    assert.ok(err instanceof StagefarmError && err.code === "invalid_argument", String(err));
    for (const m of mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention "${m}"`);
    return true;
  };

test("a binhost URL: http(s), trailing slashes dropped, the flag before the environment", () => {
  assert.equal(binhostUrl("http://farm:9464/", {}), "http://farm:9464");
  assert.equal(binhostUrl("https://farm.example/sf//", {}), "https://farm.example/sf");
  assert.equal(
    binhostUrl(undefined, { STAGEFARM_BINHOST_URL: "http://10.0.0.2:9464" }),
    "http://10.0.0.2:9464",
  );
  assert.equal(binhostUrl("http://a:1", { STAGEFARM_BINHOST_URL: "http://b:2" }), "http://a:1");
  assert.equal(binhostUrl(undefined, {}), undefined);
  assert.equal(binhostUrl("", {}), undefined);
});

test("a binhost URL with credentials, a query or another scheme is refused", () => {
  // Credentials would be written into every built root's binrepos.conf, and so into its tarball.
  assert.throws(
    () => binhostUrl("http://user:secret@farm:9464", {}),
    refused("credentials", "binrepos.conf"),
  );
  assert.throws(() => binhostUrl("http://user@farm:9464", {}), refused("credentials"));
  assert.throws(() => binhostUrl("http://farm:9464/?x=1", {}), refused("--binhost-url", "x=1"));
  assert.throws(() => binhostUrl("ftp://farm/", {}), refused("http://farm:9464"));
  assert.throws(() => binhostUrl("farm:9464", {}), refused("--binhost-url"));
});

test("a refused binhost URL is named without its password", () => {
  for (const raw of ["ftp://user:hunter2@farm/", "http://user:hunter2@farm:9464/?x=1"])
    assert.throws(
      () => binhostUrl(raw, {}),
      (err: unknown) => err instanceof StagefarmError && !err.message.includes("hunter2"),
    );
});
