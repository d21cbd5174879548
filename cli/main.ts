#!/usr/bin/env node
/**
 * The `stagefarm` command. The only place that reads process.env and argv; configuration is
 * parsed once here and handed down.
 */
import { Command, CommanderError } from "commander";
import { exitCodeFor, StagefarmError } from "../shared/errors.js";
import { createLogger, type Logger } from "../shared/log.js";
import { registerAgent } from "./commands/agent.js";
import { registerBinhost } from "./commands/binhost.js";
import { registerCache } from "./commands/cache.js";
import { registerCerts } from "./commands/certs.js";
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
import { localConfig, type GlobalFlags, type LocalConfig } from "./config.js";
import type { CliContext } from "./context.js";
import { silenceIrrelevantWarnings } from "./node-warnings.js";
import { STAGEFARM_VERSION } from "../shared/version.js";

async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command("stagefarm")
    .description("stagefarm: cached, distributed Gentoo bootstrap and release builds")
    .version(STAGEFARM_VERSION)
    .option("--store <dir>", "artifact store directory of the embedded farm (env STAGEFARM_STORE)")
    .option("--work-dir <dir>", "where stage workspaces are created (env STAGEFARM_WORK_DIR)")
    .option("--log-level <level>", "log level for stderr logs (env STAGEFARM_LOG_LEVEL; default warn)")
    .option(
      "--log-format <format>",
      "auto, json or pretty: how stderr logs are written; auto renders them for people on a terminal and as JSON lines otherwise (env STAGEFARM_LOG_FORMAT)",
    )
    .showHelpAfterError()
    .exitOverride();
  let config: LocalConfig | undefined;
  const loggers = new Map<string, Logger>();
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    config: () => (config ??= localConfig(program.opts<GlobalFlags>(), process.env)),
    logger: (level) => {
      let l = loggers.get(level);
      if (l === undefined) {
        const format = ctx.config().logFormat;
        const pretty = format === "pretty" || (format === "auto" && process.stderr.isTTY);
        l = createLogger({ level, ...(pretty ? { pretty: { colorize: ctx.color(process.stderr) } } : {}) });
        loggers.set(level, l);
      }
      return l;
    },
    color: (s) => (s as NodeJS.WriteStream).isTTY === true && process.env["NO_COLOR"] === undefined,
    setExitCode: (c) => (exitCode = c),
  };
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
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err: unknown) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const e = StagefarmError.from(err);
    process.stderr.write(`stagefarm: ${e.code === "invalid_pipeline" ? "" : "error: "}${e.message}\n`);
    if (e.code === "internal" && e.stack !== undefined) process.stderr.write(`${e.stack}\n`);
    return exitCodeFor(e.code);
  }
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
