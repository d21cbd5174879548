/** The store outage settings of the distributed processes, parsed once (cli/distributed-config.ts). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { agentConfig, coordinatorConfig } from "../../cli/distributed-config.js";
import { StagefarmError } from "../../shared/errors.js";

const S3 = { STAGEFARM_S3_URL: "http://a:b@127.0.0.1:9000/bucket" };

test("the outage budget defaults to 10 minutes and S3 requests to 6 retries", () => {
  const c = coordinatorConfig({}, S3);
  assert.equal(c.storeOutageBudgetMs, 600_000);
  assert.equal(c.s3Retries, 6);
  const a = agentConfig({}, S3, "work");
  assert.equal(a.storeOutageBudgetMs, 600_000);
  assert.equal(a.heartbeatMs, 5000);
});

test("the flag wins over STAGEFARM_STORE_OUTAGE_BUDGET; the env sets retries and the heartbeat", () => {
  const env = {
    ...S3,
    STAGEFARM_STORE_OUTAGE_BUDGET: "30m",
    STAGEFARM_S3_RETRIES: "1",
    STAGEFARM_HEARTBEAT: "2s",
  };
  assert.equal(coordinatorConfig({}, env).storeOutageBudgetMs, 1_800_000);
  const a = agentConfig({ storeOutageBudget: "1h", heartbeat: "1s" }, env, "work");
  assert.equal(a.storeOutageBudgetMs, 3_600_000);
  assert.equal(a.s3Retries, 1);
  assert.equal(a.heartbeatMs, 1000);
  assert.equal(agentConfig({}, env, "work").heartbeatMs, 2000);
});

test("a malformed budget or retry count is refused, naming the setting", () => {
  const refused = (f: () => unknown, re: RegExp) =>
    assert.throws(
      f,
      (e: unknown) => e instanceof StagefarmError && e.code === "invalid_argument" && re.test(e.message),
    );
  refused(
    () => coordinatorConfig({ storeOutageBudget: "soon" }, S3),
    /invalid duration "soon"[\s\S]*storeOutageBudgetMs/,
  );
  refused(() => coordinatorConfig({}, { ...S3, STAGEFARM_S3_RETRIES: "many" }), /STAGEFARM_S3_RETRIES/);
  refused(() => agentConfig({}, { ...S3, STAGEFARM_S3_RETRIES: "99" }, "work"), /STAGEFARM_S3_RETRIES/);
});
