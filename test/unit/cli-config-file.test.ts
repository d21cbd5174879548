import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Command } from "commander";
import { applyContext, clearEmptyEnv } from "../../cli/apply-context.js";
import { configFilePath, parseConfigFile, readConfigFile, selectContext } from "../../cli/config-file.js";
import { connectionOptions } from "../../cli/commands/remote.js";
import { clientConfig } from "../../cli/distributed-config.js";

const PATH = "/home/u/.config/stagefarm/config.toml";
const TEXT = `default_context = "prod"

[contexts.prod]
coordinator = "farm.example.org:7420"
ca = "prod-ca.pem"
token_file = "~/prod.token"
tls = true

[contexts.lab]
coordinator = "10.0.0.5:7420"
`;

test("the config file is under XDG_CONFIG_HOME, else ~/.config (unset, empty or relative)", () => {
  assert.equal(configFilePath({}, "/home/u"), PATH);
  assert.equal(configFilePath({ XDG_CONFIG_HOME: "" }, "/home/u"), PATH);
  assert.equal(configFilePath({ XDG_CONFIG_HOME: "conf" }, "/home/u"), PATH);
  assert.equal(configFilePath({ XDG_CONFIG_HOME: "/etc/u" }, "/home/u"), "/etc/u/stagefarm/config.toml");
});

test("contexts: paths resolved against the file's directory and home; default_context chosen", () => {
  const f = parseConfigFile(TEXT, PATH, "/home/u");
  const prod = selectContext(f, undefined, PATH);
  assert.equal(prod?.name, "prod");
  assert.deepEqual(prod?.settings, {
    coordinator: "farm.example.org:7420",
    ca: "/home/u/.config/stagefarm/prod-ca.pem",
    tokenFile: "/home/u/prod.token",
    tls: true,
  });
  assert.equal(selectContext(f, "lab", PATH)?.settings.coordinator, "10.0.0.5:7420");
  assert.equal(selectContext(undefined, undefined, PATH), undefined);
});

test("refused with file:line: unknown keys, an inline token, wrong types, bad TOML, unknown names", () => {
  const refused = (text: string, re: RegExp) => assert.throws(() => parseConfigFile(text, PATH), re);
  refused(
    `[contexts.prod]\ncoordinator = "a:1"\ncordinator = "b:1"\n`,
    /config\.toml:3: unknown key "cordinator" in context "prod"/,
  );
  refused(
    `[contexts.prod]\ntoken = "sekrit-value"\n`,
    /config\.toml:2: a token is not stored in the config file/,
  );
  refused(`[contexts.prod]\ntls = "yes"\n`, /config\.toml:2: tls must be true or false/);
  refused(`colour = "blue"\n`, /config\.toml:1: unknown key "colour"/);
  refused(
    `default_context = "nope"\n[contexts.a]\n`,
    /config\.toml:1: default_context names no context: "nope"/,
  );
  assert.throws(
    () => parseConfigFile(`[contexts.a]\ncoordinator = "sekrit-value\n`, PATH),
    (e: unknown) =>
      e instanceof Error &&
      /config\.toml:2:\d+: not valid TOML/.test(e.message) &&
      !e.message.includes("sekrit"),
  );
  const f = parseConfigFile(TEXT, PATH);
  assert.throws(() => selectContext(f, "staging", PATH), /no context "staging" \(defined: "prod", "lab"\)/);
  assert.throws(() => selectContext(undefined, "prod", PATH), /there is no config file/);
});

test("the file is bounded and must be a regular file; a missing one is no file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sf-conf-"));
  try {
    assert.equal(await readConfigFile(join(dir, "none.toml")), undefined);
    await writeFile(join(dir, "big.toml"), `# ${"x".repeat(70_000)}\n`);
    await assert.rejects(readConfigFile(join(dir, "big.toml")), /larger than 64 KiB/);
    await assert.rejects(readConfigFile(dir), /not a regular file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Parses `argv` for a command with the connection options, the context applied as cli/main.ts does. */
async function resolved(argv: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const f = parseConfigFile(TEXT, PATH, "/home/u");
    let opts: Record<string, unknown> = {};
    const cmd = connectionOptions(new Command("runs"))
      .exitOverride()
      .hook("preAction", (_c, action) => {
        clearEmptyEnv(action);
        applyContext(action, selectContext(f, undefined, PATH));
      })
      .action((o: Record<string, unknown>) => {
        opts = o;
      });
    await cmd.parseAsync(argv, { from: "user" });
    return opts;
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

test("precedence: flag > environment > context > default; an empty variable counts as unset", async () => {
  assert.equal((await resolved([], {})).coordinator, "farm.example.org:7420");
  assert.equal((await resolved([], { STAGEFARM_COORDINATOR: "env:1" })).coordinator, "env:1");
  assert.equal((await resolved([], { STAGEFARM_COORDINATOR: "" })).coordinator, "farm.example.org:7420");
  assert.equal(
    (await resolved(["--coordinator", "flag:1"], { STAGEFARM_COORDINATOR: "env:1" })).coordinator,
    "flag:1",
  );
  const o = await resolved([], {});
  assert.equal(o["tls"], true);
  assert.equal(o["tokenFile"], "/home/u/prod.token");
  assert.equal(o["cert"], undefined);
});

test("a token file (flag, variable or context) gives the token; it must be mode 0600; --token wins", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sf-token-"));
  try {
    const file = join(dir, "prod.token");
    await writeFile(file, "sft_abc\n", { mode: 0o600 });
    assert.equal((await clientConfig({ tokenFile: file }, {})).token, "sft_abc");
    assert.equal((await clientConfig({ tokenFile: file, token: "sft_flag" }, {})).token, "sft_flag");
    await chmod(file, 0o644);
    await assert.rejects(clientConfig({ tokenFile: file }, {}), /token file .* is accessible to other users/);
    await writeFile(join(dir, "empty.token"), "\n", { mode: 0o600 });
    await assert.rejects(
      clientConfig({ tokenFile: join(dir, "empty.token") }, {}),
      /first line must hold the token/,
    );
    const c = await clientConfig(
      { coordinator: "", tls: false },
      { STAGEFARM_TLS: "0", STAGEFARM_INSECURE: "1" },
    );
    assert.equal(c.address, "127.0.0.1:7420");
    assert.equal(c.tls, undefined, "STAGEFARM_TLS=0 is off");
    assert.equal(c.insecure, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
