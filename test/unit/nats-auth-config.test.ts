/**
 * The NATS identity pieces without a server: every agent subject carries its id and
 * `agentOf` reads it back (and nothing else); the permissions grant an agent its own subjects
 * and pools only; the shipped deploy/nats/stagefarm-users.conf is exactly what `natsUserBlock`
 * makes (so the file and the code cannot drift); credentials files parse; the CLI's NATS
 * options have environment fallbacks; `stagefarm nats user` reuses or creates the nkey.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { natsUserBlockFor } from "../../cli/commands/nats.js";
import { agentConfig, coordinatorConfig } from "../../cli/distributed-config.js";
import { StagefarmError } from "../../shared/errors.js";
import { createNkeyUser, natsUserBlock } from "../../shared/nats/index.js";
import { agentPermissions, coordinatorPermissions, parseNatsCredentials } from "../../shared/nats/testing.js";
import { subjects } from "../../shared/protocol/subjects.js";
import { repoRoot } from "../helpers/cli.js";

/** Whether a NATS subject matches a permission pattern (`*` one token, `>` the rest). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
const allowed = (patterns: string[], subject: string): boolean => patterns.some((p) => matches(p, subject));

describe("subjects carry the agent id", () => {
  test("every subject an agent sends on names it, and agentOf reads it back", () => {
    const s = subjects("sf", "build-1");
    for (const subject of [
      s.claim("build-1"),
      s.heartbeat("build-1"),
      s.events("build-1"),
      s.agentLogs("build-1", "r1", "stage"),
      s.binhostPublish,
      s.binhostConf,
    ])
      assert.equal(s.agentOf(subject), "build-1", subject);
    for (const subject of [
      "sf.jobs.any",
      "sf.control.build-1",
      "sf.claim",
      "sf.binhost.publish",
      "sf.claim.a.b",
      "other.hb.build-1",
      "sf.hb.bad%id",
      "sf.logs.build-1.r1",
    ])
      assert.equal(s.agentOf(subject), undefined, subject);
    assert.equal(subjects("sf").binhostPublish, "sf.binhost.publish", "unbound without an agent");
    assert.ok(
      matches(s.logs("r1", "*"), s.agentLogs("build-1", "r1", "stage")),
      "watchers see every agent's log",
    );
  });
});

describe("NATS permissions", () => {
  test("an agent publishes only on its own subjects and reads only its pools and inbox", () => {
    const p = agentPermissions("sf", "build-1", ["x86_64", "chroot"]);
    const own = subjects("sf", "build-1");
    for (const subject of [
      own.claim("build-1"),
      own.heartbeat("build-1"),
      own.events("build-1"),
      own.agentLogs("build-1", "r1", "s"),
      own.binhostPublish,
      own.binhostConf,
      "$JS.API.CONSUMER.MSG.NEXT.SF_JOBS.sf_jobs_chroot_2Bx86_5F64",
      "$JS.ACK.SF_JOBS.sf_jobs_any.1.2.3.4.5",
    ])
      assert.ok(allowed(p.publish, subject), `may publish ${subject}`);
    for (const subject of [
      own.claim("build-2"),
      own.heartbeat("build-2"),
      own.events("build-2"),
      own.agentLogs("build-2", "r1", "s"),
      "sf.binhost.publish",
      "sf.binhost.publish.build-2",
      "sf.control.build-1",
      "sf.jobs.any",
      "$KV.sf_state.runs.r1",
      "$JS.API.STREAM.CREATE.SF_JOBS",
      "$JS.API.STREAM.DELETE.SF_JOBS",
      "$JS.API.CONSUMER.CREATE.SF_JOBS.x",
      "$JS.API.CONSUMER.MSG.NEXT.SF_JOBS.sf_jobs_catalyst",
      "$JS.API.CONSUMER.MSG.NEXT.SF_EVENTS.coordinator",
      "$JS.API.STREAM.INFO.KV_sf_state",
      "_INBOX.sf.agent.build-2.x.1",
    ])
      assert.ok(!allowed(p.publish, subject), `may not publish ${subject}`);
    for (const subject of [
      "sf.control.build-1",
      "sf.jobs.any",
      "sf.jobs.chroot+x86_64",
      "_INBOX.sf.agent.build-1.abc.1",
    ])
      assert.ok(allowed(p.subscribe, subject), `may receive ${subject}`);
    for (const subject of [
      "sf.control.build-2",
      "sf.jobs.catalyst",
      "sf.hb.build-2",
      "_INBOX.sf.agent.build-2.abc.1",
      "_INBOX.sf.coordinator.x",
    ])
      assert.ok(!allowed(p.subscribe, subject), `may not receive ${subject}`);
    assert.ok(!p.subscribe.some((s) => s.includes(">") && !s.startsWith("_INBOX.sf.agent.build-1.")));
  });

  test("the coordinator gets everything of its farm and nothing of another prefix", () => {
    const p = coordinatorPermissions("sf");
    for (const subject of [
      "sf.jobs.any",
      "sf.control.build-1",
      "$KV.sf_state.runs.r1",
      "$JS.API.STREAM.CREATE.SF_JOBS",
      "_INBOX.sf.agent.build-1.x.1",
    ])
      assert.ok(allowed(p.publish, subject), subject);
    for (const subject of [
      "other.jobs.any",
      "$KV.other_state.x",
      "$JS.API.STREAM.DELETE.OTHER_JOBS",
      "_INBOX.other.agent.a.x",
    ])
      assert.ok(!allowed(p.publish, subject), subject);
  });

  test("the shipped users file is the generator's output", async () => {
    const text = await readFile(join(repoRoot, "deploy/nats/stagefarm-users.conf"), "utf8");
    const expected = [
      natsUserBlock({ role: "coordinator", prefix: "sf", nkey: "@COORDINATOR_NKEY@" }, "  "),
      natsUserBlock(
        { role: "agent", prefix: "sf", nkey: "@BUILD_1_NKEY@", agentId: "build-1", labels: ["x86_64"] },
        "  ",
      ),
      natsUserBlock(
        {
          role: "agent",
          prefix: "sf",
          nkey: "@BUILD_2_NKEY@",
          agentId: "build-2",
          labels: ["catalyst", "x86_64"],
        },
        "  ",
      ),
    ].join("\n");
    const body = text.slice(text.indexOf("users = [\n") + "users = [\n".length, text.lastIndexOf("\n]"));
    assert.equal(body, expected, "regenerate deploy/nats/stagefarm-users.conf from natsUserBlock");
  });
});

describe("NATS credentials and options", () => {
  test("a credentials file holds an nkey seed or USER:PASSWORD", () => {
    const { seed, publicKey } = createNkeyUser();
    const auth = parseNatsCredentials(`# a comment\n\n${seed}\n`, "f");
    assert.equal(auth.kind, "nkey");
    assert.equal(auth.kind === "nkey" ? auth.publicKey : "", publicKey);
    assert.deepEqual(parseNatsCredentials("agent:pa:ss\n", "f"), {
      kind: "user",
      user: "agent",
      pass: "pa:ss",
    });
    assert.throws(() => parseNatsCredentials("SU" + "A".repeat(56), "f"), /not a valid nkey user seed/);
    assert.throws(() => parseNatsCredentials("a:b\nc:d", "f"), /expected one line/);
    assert.throws(() => parseNatsCredentials(":nopass", "f"), /USER:PASSWORD/);
  });

  test("the NATS credential and TLS options reach the configuration; empty ones count as unset", () => {
    // The flags hold what the command line or the environment gave (commander's Option.env).
    const flags = {
      s3: "http://a:b@h:1/bucket",
      natsCreds: "/etc/stagefarm/nats.creds",
      natsCa: "/etc/stagefarm/ca.crt",
    };
    const c = coordinatorConfig(flags, {});
    assert.equal(c.natsCredsFile, "/etc/stagefarm/nats.creds");
    assert.equal(c.natsCaFile, "/etc/stagefarm/ca.crt");
    assert.equal(c.natsCertFile, undefined);
    const a = agentConfig(
      { ...flags, natsCreds: "/flag.creds", natsCert: "/c.crt", natsKey: "/c.key" },
      {},
      "/work",
    );
    assert.equal(a.natsCredsFile, "/flag.creds");
    assert.equal(a.natsCertFile, "/c.crt");
    assert.equal(a.natsKeyFile, "/c.key");
    assert.equal(agentConfig({ ...flags, natsCreds: "" }, {}, "/w").natsCredsFile, undefined);
  });

  test("stagefarm nats user creates the seed once and reuses it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-nats-user-"));
    try {
      const file = join(dir, "build-3.creds");
      const first = await natsUserBlockFor({
        role: "agent",
        agentId: "build-3",
        labels: ["x86_64"],
        prefix: "sf",
        credsFile: file,
      });
      assert.equal(first.created, true);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const again = await natsUserBlockFor({
        role: "agent",
        agentId: "build-3",
        labels: ["x86_64", "catalyst"],
        prefix: "sf",
        credsFile: file,
      });
      assert.equal(again.created, false);
      const nkey = /nkey: (U[A-Z2-7]+)/.exec(first.block)?.[1];
      assert.ok(nkey !== undefined && again.block.includes(`nkey: ${nkey}`), "the same nkey");
      assert.match(again.block, /"sf\.jobs\.catalyst\+x86_64"/);
      await writeFile(join(dir, "pw.creds"), "u:p\n", { mode: 0o600 });
      await assert.rejects(
        natsUserBlockFor({ role: "coordinator", labels: [], prefix: "sf", credsFile: join(dir, "pw.creds") }),
        /holds a user and password/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

void test("--max-unpacked-size: a size, off, or an error naming the flag; 64G by default", () => {
  const base = { s3: "http://a:b@127.0.0.1:9000/b" };
  assert.equal(agentConfig(base, {}, "/w").maxUnpackedBytes, 64 * 2 ** 30);
  assert.equal(agentConfig({ ...base, maxUnpackedSize: "8G" }, {}, "/w").maxUnpackedBytes, 8 * 2 ** 30);
  assert.equal(agentConfig(base, { STAGEFARM_MAX_UNPACKED_SIZE: "off" }, "/w").maxUnpackedBytes, Infinity);
  assert.throws(
    () => agentConfig({ ...base, maxUnpackedSize: "lots" }, {}, "/w"),
    (err: unknown) =>
      err instanceof StagefarmError && /--max-unpacked-size: expected a size/.test(err.message),
  );
});
