#!/usr/bin/env node
/**
 * The `stagefarm` command. The only place that reads process.env and argv; configuration is
 * parsed once here and handed down.
 *
 * Start-up loads commander and the registration modules only: each registerX declares options
 * and a description, and its action loads the implementation with `await import(...)`, so
 * `stagefarm --help` and `validate` do not load gRPC, NATS, S3, execa or pino
 * (test/unit/cli-env-help.test.ts checks it; bench/cli-start.ts measures it). The embedded farm's settings
 * and the logger are loaded by the preAction hook, before any action, never for --help.
 */
import { Command, CommanderError } from "commander";
import { exitCodeFor, StagefarmError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import { registerAgent } from "./commands/agent.js";
import { registerBinhost } from "./commands/binhost.js";
import { registerCache } from "./commands/cache.js";
import { registerCerts } from "./commands/certs.js";
import { registerContext } from "./commands/context.js";
import { registerGet } from "./commands/get.js";
import { registerImport } from "./commands/import.js";
import { registerNats } from "./commands/nats.js";
import { registerCoordinator } from "./commands/coordinator.js";
import { registerDiff } from "./commands/diff.js";
import { registerPlan } from "./commands/plan.js";
import { registerRemote } from "./commands/remote.js";
import { registerRelease } from "./commands/release.js";
import { registerRun } from "./commands/run.js";
import { registerStats } from "./commands/stats.js";
import { registerUp } from "./commands/up.js";
import { registerValidate } from "./commands/validate.js";
import type { GlobalFlags, LocalConfig } from "./config.js";
import type { CliContext } from "./context.js";
import { silenceIrrelevantWarnings } from "./node-warnings.js";
import { envOption, isWithoutFarm } from "./options.js";
import { STAGEFARM_VERSION } from "../shared/version.js";
import { applyContext, clearEmptyEnv, takesContext } from "./apply-context.js";

async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command("stagefarm")
    .description("stagefarm: cached, distributed Gentoo bootstrap and release builds")
    .version(STAGEFARM_VERSION)
    .addOption(envOption("--store <dir>", "artifact store directory of the embedded farm", "STAGEFARM_STORE"))
    .addOption(envOption("--work-dir <dir>", "where stage workspaces are created", "STAGEFARM_WORK_DIR"))
    .addOption(
      envOption("--log-level <level>", "log level for stderr logs (default warn)", "STAGEFARM_LOG_LEVEL"),
    )
    .addOption(
      envOption(
        "--log-format <format>",
        "auto, json or pretty: how stderr logs are written; auto renders them for people on a terminal and as JSON lines otherwise",
        "STAGEFARM_LOG_FORMAT",
      ),
    )
    .option("--verbose", "print the stack of an error (and of its causes)")
    .addOption(
      envOption(
        "--context <name>",
        "the context of the config file ($XDG_CONFIG_HOME/stagefarm/config.toml) whose connection settings apply (default: its default_context)",
        "STAGEFARM_CONTEXT",
      ),
    )
    .addHelpText(
      "after",
      "\nThe embedded farm's local agent caps what one stage input may unpack to with " +
        "STAGEFARM_MAX_UNPACKED_SIZE (e.g. 64G or off; see `stagefarm agent --help`).",
    )
    .showHelpAfterError()
    .exitOverride();
  // Loaded before an action runs (not for --help): what ctx.config() and ctx.logger() use.
  let loaded: { config: typeof import("./config.js"); log: typeof import("../shared/log.js") } | undefined;
  const need = <T>(v: T | undefined): T => {
    if (v === undefined) throw new StagefarmError("internal", "the CLI context was used before its action");
    return v;
  };
  let config: LocalConfig | undefined;
  const loggers = new Map<string, Logger>();
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    config: () => (config ??= need(loaded).config.localConfig(program.opts<GlobalFlags>(), process.env)),
    logger: (level) => {
      let l = loggers.get(level);
      if (l === undefined) {
        const format = ctx.config().logFormat;
        const pretty = format === "pretty" || (format === "auto" && process.stderr.isTTY);
        l = need(loaded).log.createLogger({
          level,
          ...(pretty ? { pretty: { colorize: ctx.color(process.stderr) } } : {}),
        });
        loggers.set(level, l);
      }
      return l;
    },
    color: (s) => (s as NodeJS.WriteStream).isTTY === true && process.env["NO_COLOR"] === undefined,
    setExitCode: (c) => (exitCode = c),
  };
  program.hook("preAction", async (_program, action) => {
    clearEmptyEnv(action);
    const requested = program.opts<{ context?: string }>().context;
    if (requested !== undefined || takesContext(action)) {
      const { configFilePath, readConfigFile, selectContext } = await import("./config-file.js");
      const path = configFilePath(process.env);
      applyContext(action, selectContext(await readConfigFile(path), requested, path));
    }
    if (isWithoutFarm(action)) return;
    const [configModule, logModule] = await Promise.all([import("./config.js"), import("../shared/log.js")]);
    loaded = { config: configModule, log: logModule };
  });
  registerRun(program, ctx);
  registerValidate(program, ctx);
  registerPlan(program, ctx);
  registerStats(program, ctx);
  registerCache(program, ctx);
  registerBinhost(program, ctx);
  registerGet(program, ctx);
  registerImport(program, ctx);
  registerDiff(program, ctx);
  registerUp(program, ctx);
  registerCoordinator(program, ctx);
  registerAgent(program, ctx);
  registerRemote(program, ctx);
  registerRelease(program, ctx);
  registerCerts(program, ctx);
  registerNats(program, ctx);
  registerContext(program, ctx);
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err: unknown) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const e = StagefarmError.from(err);
    process.stderr.write(`stagefarm: ${e.code === "invalid_pipeline" ? "" : "error: "}${e.message}\n`);
    if (program.opts<{ verbose?: boolean }>().verbose === true) process.stderr.write(`${stackOf(e)}\n`);
    else if (e.code === "internal") process.stderr.write("stagefarm: (a bug: --verbose prints its stack)\n");
    return exitCodeFor(e.code);
  }
}

/** The stack of an error and of each cause under it. */
function stackOf(err: unknown, depth = 0): string {
  const own = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  const cause = err instanceof Error ? err.cause : undefined;
  return cause === undefined || depth >= 5 ? own : `${own}\ncaused by: ${stackOf(cause, depth + 1)}`;
}

silenceIrrelevantWarnings(process);
main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`stagefarm: fatal: ${String(err)}\n`);
    process.exitCode = 70;
  },
);
