/** The store outage settings of the distributed processes, parsed once (cli/distributed-config.ts). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { agentConfig, coordinatorConfig } from "../../cli/distributed-config.js";
import { StagefarmError } from "../../shared/errors.js";

// The flags hold what the command line or the environment gave (commander's Option.env).
const S3 = { s3: "http://a:b@127.0.0.1:9000/bucket" };

test("the outage budget defaults to 10 minutes and S3 requests to 6 retries", () => {
  const c = coordinatorConfig(S3, {});
  assert.equal(c.storeOutageBudgetMs, 600_000);
  assert.equal(c.s3Retries, 6);
  const a = agentConfig(S3, {}, "work");
  assert.equal(a.storeOutageBudgetMs, 600_000);
  assert.equal(a.heartbeatMs, 5000);
});

test("the budget and heartbeat come from their flags; STAGEFARM_S3_RETRIES sets the retries", () => {
  const env = { STAGEFARM_S3_RETRIES: "1" };
  assert.equal(coordinatorConfig({ ...S3, storeOutageBudget: "30m" }, env).storeOutageBudgetMs, 1_800_000);
  const a = agentConfig({ ...S3, storeOutageBudget: "1h", heartbeat: "1s" }, env, "work");
  assert.equal(a.storeOutageBudgetMs, 3_600_000);
  assert.equal(a.s3Retries, 1);
  assert.equal(a.heartbeatMs, 1000);
  assert.equal(agentConfig({ ...S3, heartbeat: "" }, env, "work").heartbeatMs, 5000, "empty: the default");
});

test("a malformed budget or retry count is refused, naming the setting", () => {
  const refused = (f: () => unknown, re: RegExp) =>
    assert.throws(
      f,
      (e: unknown) => e instanceof StagefarmError && e.code === "invalid_argument" && re.test(e.message),
    );
  refused(
    () => coordinatorConfig({ ...S3, storeOutageBudget: "soon" }, {}),
    /invalid duration "soon"[\s\S]*storeOutageBudgetMs/,
  );
  refused(() => coordinatorConfig(S3, { STAGEFARM_S3_RETRIES: "many" }), /STAGEFARM_S3_RETRIES/);
  refused(() => agentConfig(S3, { STAGEFARM_S3_RETRIES: "99" }, "work"), /STAGEFARM_S3_RETRIES/);
});
