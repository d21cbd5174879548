/** The chroot runner's `with` block: defaults, accepted forms, and errors naming stage and key. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StagefarmError } from "../../shared/errors.js";
import type { ResolvedStage } from "../../shared/pipeline/index.js";
import { parseChrootWith } from "../../shared/runner-config/testing.js";

function stage(w: Record<string, unknown>): ResolvedStage {
  return {
    pipeline: "test",
    name: "native-rebuild",
    runner: "chroot",
    requires: [],
    inputs: [],
    outputs: [],
    env: {},
    script: "true",
    sources: [],
    with: w,
    timeoutMs: 60_000,
    retries: 0,
    clampMtime: false,
    platform: "linux/x86_64",
    paramsUsed: [],
  };
}

function refused(w: Record<string, unknown>): StagefarmError {
  try {
    parseChrootWith(stage(w));
  } catch (err: unknown) {
    assert.ok(err instanceof StagefarmError);
    assert.equal(err.code, "invalid_pipeline");
    assert.match(err.message, /^stage "native-rebuild" \(runner chroot\): with/);
    return err;
  }
  return assert.fail("expected the with block to be refused");
}

void describe("parseChrootWith", () => {
  test("defaults: root rootfs, login shell, minimal /dev, the host's resolv.conf, no binds, bash", () => {
    assert.deepEqual(parseChrootWith(stage({})), {
      root: "rootfs",
      login: true,
      dev: "minimal",
      resolv_conf: "host",
      binds: [],
      shell: "/bin/bash",
    });
  });

  test("every key given", () => {
    const w = {
      root: "target",
      login: false,
      dev: "devtmpfs",
      resolv_conf: { content: "nameserver 1.1.1.1\n" },
      binds: [
        { from: "distfiles", to: "/var/cache/distfiles" },
        { from: "out/pkgs", to: "/var/cache/binpkgs", readonly: false },
      ],
      shell: "/usr/bin/bash",
    };
    assert.deepEqual(parseChrootWith(stage(w)), {
      ...w,
      binds: [
        { from: "distfiles", to: "/var/cache/distfiles", readonly: true },
        { from: "out/pkgs", to: "/var/cache/binpkgs", readonly: false },
      ],
    });
    assert.equal(parseChrootWith(stage({ resolv_conf: "none" })).resolv_conf, "none");
  });

  test("unknown keys are refused, at the top and in a bind", () => {
    assert.match(refused({ mounts: [] }).message, /with: .*"mounts"/);
    assert.match(refused({ binds: [{ from: "a", to: "/b", ro: true }] }).message, /with\.binds\[0\]: .*"ro"/);
    assert.match(
      refused({ resolv_conf: { text: "x" } }).message,
      /with\.resolv_conf: must be "host", "none" or \{ content: <the file's text> \}/,
    );
  });

  test("paths: the root and bind sources stay in the workspace, bind targets are absolute and not pseudo", () => {
    assert.match(refused({ root: "/srv/root" }).message, /with\.root: must be relative to the workspace/);
    assert.match(refused({ root: "a/../../b" }).message, /with\.root: must stay inside the workspace/);
    assert.match(
      refused({ binds: [{ from: "../x", to: "/x" }] }).message,
      /with\.binds\[0\]\.from: must stay inside the workspace/,
    );
    assert.match(
      refused({ binds: [{ from: "x", to: "var/x" }] }).message,
      /with\.binds\[0\]\.to: must be an absolute path inside the root/,
    );
    assert.match(
      refused({ binds: [{ from: "x", to: "/" }] }).message,
      /with\.binds\[0\]\.to: must not be the root/,
    );
    assert.match(
      refused({ binds: [{ from: "x", to: "/dev/kvm" }] }).message,
      /with\.binds\[0\]\.to: must not be in \/proc, \/sys or \/dev/,
    );
    assert.match(refused({ binds: [{ to: "/x" }] }).message, /with\.binds\[0\]\.from: is required$/);
    assert.match(refused({ shell: "bash" }).message, /with\.shell: must be an absolute path/);
  });

  test("wrong types and values name the key", () => {
    const e = refused({ login: "yes", dev: "full" });
    assert.match(e.message, /with\.login: /);
    assert.match(e.message, /with\.dev: /);
    assert.deepEqual((e.details["issues"] as string[]).length, 2);
  });
});
