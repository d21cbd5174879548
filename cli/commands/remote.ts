/**
 * Commands against a remote coordinator over gRPC: submit (with --watch), runs, logs, cancel,
 * retry, agents, drain, undrain. Registration only; the actions are in ./remote-client.ts, loaded when
 * one runs (gRPC is loaded only by these commands).
 *
 * Connection: `--coordinator HOST:PORT` (default 127.0.0.1:7420), `--ca` (TLS; `--tls` for the
 * system's CAs), `--cert`/`--key` (mutual TLS), `--token` or `--token-file`, `--insecure`; each
 * from its flag, else its environment variable, else the config file's context
 * (cli/config-file.ts), else the default.
 */
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import type { ClientFlags } from "../distributed-config.js";
import { collect, envOption, envSwitch, positiveInt } from "../options.js";
import { reproOptions, type ReproFlags } from "./repro-options.js";

/** The options of `stagefarm logs`. */
export type LogsFlags = {
  follow?: boolean;
  attempt?: string;
  bytes?: number;
  tail?: number;
  timestamps?: boolean;
  json?: boolean;
} & ClientFlags;

/** Adds --coordinator and the TLS and token options to a command that calls a coordinator. */
export function connectionOptions(cmd: Command): Command {
  return cmd
    .addOption(
      envOption(
        "--coordinator <host:port>",
        "coordinator gRPC address (default 127.0.0.1:7420)",
        "STAGEFARM_COORDINATOR",
      ),
    )
    .addOption(
      envOption("--ca <file>", "CA of the coordinator's certificate; connects with TLS", "STAGEFARM_CA"),
    )
    .addOption(
      envOption("--cert <file>", "client certificate, when the coordinator requires one", "STAGEFARM_CERT"),
    )
    .addOption(envOption("--key <file>", "key of --cert, mode 0600", "STAGEFARM_KEY"))
    .addOption(envSwitch("--tls", "connect with TLS trusting the system's CAs", "STAGEFARM_TLS"))
    .addOption(
      envOption(
        "--token <token>",
        "API token (better the variable or --token-file: a command line is visible to others)",
        "STAGEFARM_TOKEN",
      ),
    )
    .addOption(
      envOption(
        "--token-file <file>",
        "file holding the API token, mode 0600 (when no --token)",
        "STAGEFARM_TOKEN_FILE",
      ),
    )
    .addOption(
      envSwitch(
        "--insecure",
        "send the token in clear text to a coordinator on another host",
        "STAGEFARM_INSECURE",
      ),
    );
}

/** The action module, loaded when a command runs. */
const client = () => import("./remote-client.js");

export function registerRemote(program: Command, ctx: CliContext): void {
  reproOptions(connectionOptions(program.command("submit")))
    .description("submit a pipeline to a remote coordinator")
    .argument("<file>", "pipeline YAML file")
    .option("-p, --param <key=value>", "override a pipeline param (repeatable)", collect, [])
    .option("-w, --watch", "follow the run: progress and logs; the exit status says how it ended")
    .option("--json", "print the run (or, with --watch, the summary) as JSON on the last line")
    .action(
      async (
        file: string,
        opts: { param: string[]; watch?: boolean; json?: boolean } & ClientFlags & ReproFlags,
      ) => (await client()).submit(file, opts, ctx),
    );

  connectionOptions(program.command("runs"))
    .description("list runs on the coordinator")
    .option("--status <status>", "only runs with this status (running, succeeded, failed, cancelled)")
    .option("--pipeline <name>", "only runs of this pipeline")
    .option("--json", "print JSON")
    .action(async (opts: { status?: string; pipeline?: string; json?: boolean } & ClientFlags) =>
      (await client()).runs(opts, ctx),
    );

  connectionOptions(program.command("logs"))
    .description("print a stage's log from its start, also while it runs (with -f, follow it)")
    .argument("<run>", "run id")
    .argument("<stage>", "stage name")
    .option("-f, --follow", "keep printing while the stage runs")
    .option("--attempt <n>", "attempt number (default the latest)")
    .option(
      "-c, --bytes <n>",
      "start N bytes before the end of the stored log (like tail -c)",
      positiveInt("--bytes"),
    )
    .option("-n, --tail <lines>", "start at the last N lines (like tail -n)", positiveInt("--tail"))
    .option(
      "-t, --timestamps",
      "prefix each line with when it was written (ISO 8601, UTC; `-` for a log stored without times)",
    )
    .option("--json", "one JSON object per chunk: {stage, attempt, offset, text}")
    .action(async (run: string, stage: string, opts: LogsFlags) =>
      (await client()).logs(run, stage, opts, ctx),
    );

  connectionOptions(program.command("cancel"))
    .description("cancel a run: running stages are stopped on their agents")
    .argument("<run>", "run id")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean } & ClientFlags) =>
      (await client()).cancel(id, opts, ctx),
    );

  connectionOptions(program.command("retry"))
    .description("run a failed stage (and what it blocked) again; finished stages come from the cache")
    .argument("<run>", "run id")
    .argument("<stage>", "stage name")
    .option("--json", "print JSON")
    .action(async (id: string, stage: string, opts: { json?: boolean } & ClientFlags) =>
      (await client()).retry(id, stage, opts, ctx),
    );

  connectionOptions(program.command("agents"))
    .description("list the agents connected to the coordinator")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean } & ClientFlags) => (await client()).agents(opts, ctx));

  connectionOptions(program.command("drain"))
    .description("stop giving stages to an agent; its running stages finish")
    .argument("<agent>", "agent id")
    .option("--json", "print the agent as JSON")
    .action(async (id: string, opts: { json?: boolean } & ClientFlags) =>
      (await client()).drain(id, opts, ctx),
    );

  connectionOptions(program.command("undrain"))
    .description("give a drained agent stages again (not one draining to shut down)")
    .argument("<agent>", "agent id")
    .option("--json", "print the agent as JSON")
    .action(async (id: string, opts: { json?: boolean } & ClientFlags) =>
      (await client()).undrain(id, opts, ctx),
    );
}
