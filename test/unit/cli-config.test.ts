import assert from "node:assert/strict";
import { homedir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { localConfig, xdgDir } from "../../cli/config.js";

const defaultBase = join(homedir(), ".cache", "stagefarm");

test("XDG_CACHE_HOME unset: the store and work dir are under ~/.cache/stagefarm", () => {
  const cfg = localConfig({}, {});
  assert.equal(cfg.storeDir, join(defaultBase, "store"));
  assert.equal(cfg.workDir, join(defaultBase, "work"));
});

test("XDG_CACHE_HOME set but empty means the default, not the current directory", () => {
  const cfg = localConfig({}, { XDG_CACHE_HOME: "" });
  assert.equal(cfg.storeDir, join(defaultBase, "store"));
  assert.equal(cfg.workDir, join(defaultBase, "work"));
});

test("a relative XDG_CACHE_HOME is ignored, as the spec says", () => {
  const cfg = localConfig({}, { XDG_CACHE_HOME: "cache" });
  assert.equal(cfg.storeDir, join(defaultBase, "store"));
  assert.equal(xdgDir({ XDG_CACHE_HOME: "./x" }, "XDG_CACHE_HOME", ".cache", "/home/u"), "/home/u/.cache");
});

test("an absolute XDG_CACHE_HOME is used", () => {
  const cfg = localConfig({}, { XDG_CACHE_HOME: "/var/cache/u" });
  assert.equal(cfg.storeDir, "/var/cache/u/stagefarm/store");
  assert.equal(cfg.workDir, "/var/cache/u/stagefarm/work");
});

test("flags are used as given; an empty one counts as unset (the environment is commander's: cli-config-file.test.ts)", () => {
  const cfg = localConfig({ store: "/s", workDir: "", logLevel: "" }, { XDG_CACHE_HOME: "/y" });
  assert.equal(cfg.storeDir, "/s");
  assert.equal(cfg.workDir, "/y/stagefarm/work");
  assert.equal(cfg.logLevel, "warn");
});
