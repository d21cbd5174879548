/** `stagefarm context ls|show`: the contexts of the config file (cli/config-file.ts). */
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { withoutFarm } from "../options.js";

export function registerContext(program: Command, ctx: CliContext): void {
  const context = program
    .command("context")
    .description("the named connection settings of the config file ($XDG_CONFIG_HOME/stagefarm/config.toml)");
  withoutFarm(context.command("ls"))
    .description("list the contexts; * marks the one that applies without --context")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) =>
      (await import("../context-command.js")).listContexts(opts, ctx),
    );
  withoutFarm(context.command("show"))
    .description(
      "print a context's settings (default: the one that applies); a token file is named, never read",
    )
    .argument("[name]", "context name")
    .option("--json", "print JSON")
    .action(async (name: string | undefined, opts: { json?: boolean }) =>
      (await import("../context-command.js")).showContext(
        name ?? program.opts<{ context?: string }>().context,
        opts,
        ctx,
      ),
    );
}
