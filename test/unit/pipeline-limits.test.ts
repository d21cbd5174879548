/**
 * Per-stage `limits`: parsed into bytes and CPUs, refused with positions when malformed or on a
 * runner that cannot take them, carried into the resolved stage, and kept out of the cache key.
 * Also the cgroup file plan (both versions) and the parsing of /proc/self/{mountinfo,cgroup}.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseCgroupMounts, parseProcCgroup, limitWrites, parseOomKills } from "../../agent/testing.js";
import { computeCacheKey } from "../../shared/cache-key/index.js";
import {
  parsePipeline,
  resolvePipeline,
  formatBytes,
  parseMemoryLimit,
} from "../../shared/pipeline/index.js";
import { parseCpuLimit } from "../../shared/pipeline/testing.js";
import { FILE, SHELL, assertOneError, errorsOf, posOf } from "../helpers/pipeline-assert.js";

const MiB = 2 ** 20;

void describe("stage limits in pipelines", () => {
  void test("memory sizes use binary units; cpu is a number of CPUs", () => {
    assert.equal(parseMemoryLimit("64M"), 64 * MiB);
    assert.equal(parseMemoryLimit("8G"), 8 * 2 ** 30);
    assert.equal(parseMemoryLimit("1.5GiB"), 1536 * MiB);
    assert.equal(parseMemoryLimit("65536k"), 64 * MiB);
    assert.equal(parseMemoryLimit(16777216), 16 * MiB);
    assert.match(String(parseMemoryLimit("1M")), /less than the smallest limit, 4M/);
    assert.match(String(parseMemoryLimit("8 gigs")), /expected a size such as 512M, 8G/);
    assert.equal(parseCpuLimit(2), 2);
    assert.equal(parseCpuLimit("0.5"), 0.5);
    assert.match(String(parseCpuLimit(0)), /outside 0.01…4096/);
    assert.match(String(parseCpuLimit("two")), /expected a number of CPUs/);
    assert.deepEqual(
      [formatBytes(64 * MiB), formatBytes(1536 * MiB), formatBytes(8 * 2 ** 30), formatBytes(5000)],
      ["64M", "1536M", "8G", "5000"],
    );
  });

  void test("limits reach the resolved stage and stay out of the cache key", () => {
    const text = (limits: string) =>
      `stages:\n  build:\n    runner: shell\n    script: make\n    outputs: { o: out }\n${limits}`;
    const limited = parsePipeline(text('    limits: { memory: "8G", cpu: 2 }\n'), FILE);
    assert.deepEqual(limited.stages[0]?.limits, { memoryBytes: 8 * 2 ** 30, cpu: 2 });
    const [resolved] = resolvePipeline(limited, {});
    assert.deepEqual(resolved?.limits, { memoryBytes: 8 * 2 ** 30, cpu: 2 });
    const [plain] = resolvePipeline(parsePipeline(text(""), FILE), {});
    assert.equal(plain?.limits, undefined);
    assert.ok(resolved !== undefined && plain !== undefined);
    assert.equal(computeCacheKey(resolved, {}), computeCacheKey(plain, {}));
  });

  void test("malformed limits are reported at their node", () => {
    const bad = SHELL('    limits: { memory: "lots", cpu: 0 }\n');
    assert.deepEqual(errorsOf(bad), [
      `${FILE}:${posOf(bad, '"lots"')}: error: stage "build" limits.memory: expected a size such as 512M, 8G or a number of bytes, got "lots" (units K, M, G, T: powers of 1024)`,
      `${FILE}:${posOf(bad, "0 }")}: error: stage "build" limits.cpu: 0 is outside 0.01…4096`,
    ]);
    assertOneError(SHELL("    limits: { mem: 1G }\n"), "mem", 'stage "build" limits: unknown key "mem"');
    assertOneError(
      SHELL("    limits: [1G]\n"),
      "[1G]",
      'stage "build" limits: expected a mapping, got a sequence',
    );
  });

  void test("limits on runners whose processes the agent cannot confine are refused", () => {
    const fetch = `stages:\n  f:\n    runner: fetch\n    sources: { s: { url: "https://x/y", sha256: "${"a".repeat(64)}" } }\n    limits: { cpu: 1 }\n`;
    assertOneError(
      fetch,
      "limits",
      'stage "f": limits apply to shell, chroot and emerge (chroot mode) stages; runner "fetch"',
    );
    const host = `stages:\n  e:\n    runner: emerge\n    with: { config_root: cfg, invocations: [{ args: [sys-apps/foo] }] }\n    limits: { memory: 1G }\n`;
    const lines = errorsOf(host).filter((l) => l.includes("limits"));
    assert.deepEqual(lines, [
      `${FILE}:${posOf(host, "limits")}: error: stage "e": limits apply to emerge stages in chroot mode only (with "with.root"); in host mode the agent's own emerge runs outside the stage's cgroup`,
    ]);
  });
});

void describe("cgroup files", () => {
  void test("limits become interface files, per cgroup version", () => {
    const limits = { memoryBytes: 64 * MiB, cpu: 1.5 };
    assert.deepEqual(
      limitWrites(2, limits).map((w) => [w.controller, w.file, w.value, w.optional]),
      [
        ["memory", "memory.max", String(64 * MiB), false],
        ["memory", "memory.swap.max", "0", true],
        ["memory", "memory.oom.group", "1", true],
        ["cpu", "cpu.max", "150000 100000", false],
      ],
    );
    assert.deepEqual(
      limitWrites(1, limits).map((w) => [w.controller, w.file, w.value, w.optional]),
      [
        ["memory", "memory.limit_in_bytes", String(64 * MiB), false],
        ["memory", "memory.memsw.limit_in_bytes", String(64 * MiB), true],
        ["cpu", "cpu.cfs_period_us", "100000", false],
        ["cpu", "cpu.cfs_quota_us", "150000", false],
      ],
    );
    assert.equal(parseOomKills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 1\n"), 2);
    assert.equal(parseOomKills("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"), 1);
    assert.equal(parseOomKills("oom_kill_disable 0\nunder_oom 0\n"), 0);
  });

  void test("mountinfo and /proc/self/cgroup of a hybrid host", () => {
    const mountinfo = [
      "25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755",
      "26 25 0:23 / /sys/fs/cgroup/unified rw,relatime shared:4 - cgroup2 cgroup2 rw",
      "27 25 0:24 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory",
      "28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:6 - cgroup cgroup rw,cpu,cpuacct",
      "29 25 0:26 /sub /mnt/with\\040space rw - cgroup cgroup rw,pids",
      "30 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd",
    ].join("\n");
    assert.deepEqual(
      parseCgroupMounts(mountinfo).map((m) => [m.fstype, m.root, m.mountPoint, m.superOptions.join(",")]),
      [
        ["cgroup2", "/", "/sys/fs/cgroup/unified", "rw"],
        ["cgroup", "/", "/sys/fs/cgroup/memory", "rw,memory"],
        ["cgroup", "/", "/sys/fs/cgroup/cpu,cpuacct", "rw,cpu,cpuacct"],
        ["cgroup", "/sub", "/mnt/with space", "rw,pids"],
        ["cgroup", "/", "/sys/fs/cgroup/systemd", "rw,name=systemd"],
      ],
    );
    assert.deepEqual(parseProcCgroup("4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/user.slice\n"), [
      { id: 4, controllers: ["memory"], path: "/process_api/x" },
      { id: 2, controllers: ["cpu", "cpuacct"], path: "/" },
      { id: 0, controllers: [], path: "/user.slice" },
    ]);
  });
});
