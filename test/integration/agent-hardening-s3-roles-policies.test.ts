/**
 * S3 credentials by role, the shipped policies (deploy/minio) as data: policy-agent.json refuses
 * every write to `ac/`, `binhost/` and `stats/` (which policy-coordinator.json allows), blob and
 * log deletes, reading logs and stats, bucket administration and other buckets, and lets agents
 * read manifests and the binhost. The verdicts come from the evaluator of the IAM subset the
 * policies use (./agent-hardening-s3-iam.ts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MINIO_DEPLOY_DIR } from "../helpers/minio-policies.js";
import { evaluate, loadPolicy } from "./agent-hardening-s3-iam.js";

void describe("S3 credentials by role", { timeout: 180_000 }, () => {
  test("policy-agent.json refuses every write to ac/, binhost/ and stats/, and bucket administration", async () => {
    const agent = await loadPolicy(join(MINIO_DEPLOY_DIR, "policy-agent.json"), "stagefarm");
    const coordinator = await loadPolicy(join(MINIO_DEPLOY_DIR, "policy-coordinator.json"), "stagefarm");
    const arn = (k: string): string => `arn:aws:s3:::stagefarm/${k}`;
    for (const prefix of ["ac/x.json", "binhost/main/Packages", "stats/p.json"]) {
      for (const action of ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]) {
        assert.equal(evaluate(agent, action, arn(prefix)), false, `agent ${action} ${prefix}`);
        assert.equal(evaluate(coordinator, action, arn(prefix)), true, `coordinator ${action} ${prefix}`);
      }
    }
    assert.equal(
      evaluate(agent, "s3:DeleteObject", arn(`cas/sha256/ab/${"ab".repeat(32)}`)),
      false,
      "no blob deletes",
    );
    assert.equal(evaluate(agent, "s3:DeleteObject", arn("logs/r/s/1.log")), false, "no log deletes");
    assert.equal(evaluate(agent, "s3:GetObject", arn("logs/r/s/1.log")), false, "agents do not read logs");
    assert.equal(evaluate(agent, "s3:GetObject", arn("stats/p.json")), false);
    for (const action of [
      "s3:CreateBucket",
      "s3:DeleteBucket",
      "s3:PutBucketPolicy",
      "s3:PutLifecycleConfiguration",
    ])
      assert.equal(evaluate(agent, action, "arn:aws:s3:::stagefarm"), false, `agent ${action}`);
    assert.equal(evaluate(coordinator, "s3:DeleteBucket", "arn:aws:s3:::stagefarm"), false);
    assert.equal(evaluate(agent, "s3:GetObject", "arn:aws:s3:::other-bucket/cas/x"), false, "another bucket");
    assert.equal(evaluate(agent, "s3:GetObject", arn("ac/x.json")), true, "manifests are readable");
    assert.equal(
      evaluate(agent, "s3:GetObject", arn("binhost/main/Packages")),
      true,
      "the binhost is readable",
    );
  });
});
