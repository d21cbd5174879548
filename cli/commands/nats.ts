/**
 * `stagefarm nats user coordinator|agent [ID] --creds FILE [--labels a,b] [--prefix sf]`: the
 * nats-server configuration block of a farm user (deploy/nats/stagefarm-users.conf). Its nkey
 * comes from the credentials file: an existing one is reused (e.g. to regenerate an agent's
 * block after its labels changed), a missing one is created with a fresh nkey seed, mode 0600.
 * The server's configuration holds only the public key; the seed stays on the host that runs
 * the process (`--nats-creds FILE`).
 */
import { lstat, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { StagefarmError } from "../../shared/errors.js";
import type { NatsUser } from "../../shared/nats/index.js";
import type { CliContext } from "../context.js";
import { errnoOf } from "../../shared/util/fs.js";

export interface NatsUserRequest {
  role: "coordinator" | "agent";
  agentId?: string;
  labels: string[];
  prefix: string;
  credsFile: string;
}

/** The user block for `req`, creating its credentials file when missing. */
export async function natsUserBlockFor(req: NatsUserRequest): Promise<{ block: string; created: boolean }> {
  // Loaded when the command runs: start-up loads registrations only (cli/main.ts).
  const { createNkeyUser, natsUserBlock, readNatsCredentials } = await import("../../shared/nats/index.js");
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(req.prefix))
    throw new StagefarmError("invalid_argument", `--prefix "${req.prefix}": 1-32 letters, digits, _ and -`);
  let nkey: string;
  let created = false;
  const exists = await lstat(req.credsFile).then(
    () => true,
    (err: unknown) => {
      if (errnoOf(err) === "ENOENT") return false;
      throw StagefarmError.from(err);
    },
  );
  const existing = exists ? await readNatsCredentials(req.credsFile) : undefined;
  if (existing === undefined) {
    const user = createNkeyUser();
    const name = req.role === "agent" ? `agent ${req.agentId ?? ""}` : "coordinator";
    await writeFile(
      req.credsFile,
      `# stagefarm NATS nkey seed: ${name} of farm "${req.prefix}"\n${user.seed}\n`,
      {
        mode: 0o600,
        flag: "wx",
      },
    );
    nkey = user.publicKey;
    created = true;
  } else if (existing.kind !== "nkey")
    throw new StagefarmError(
      "invalid_argument",
      `${req.credsFile} holds a user and password; the shipped configuration uses nkeys: give a new file`,
    );
  else nkey = existing.publicKey;
  let user: NatsUser;
  if (req.role === "coordinator") user = { role: "coordinator", prefix: req.prefix, nkey };
  else {
    const id = req.agentId;
    if (id === undefined || !/^[A-Za-z0-9_-]{1,64}$/.test(id))
      throw new StagefarmError("invalid_argument", "an agent's id: 1-64 letters, digits, _ and - (its --id)");
    user = { role: "agent", prefix: req.prefix, nkey, agentId: id, labels: req.labels };
  }
  return { block: natsUserBlock(user), created };
}

export function registerNats(program: Command, ctx: CliContext): void {
  const nats = program.command("nats").description("NATS set-up of a distributed farm (deploy/nats/)");
  nats
    .command("user")
    .description("print the nats-server user block of the coordinator or of an agent, with its nkey")
    .argument("<role>", "coordinator or agent")
    .argument("[id]", "the agent's id (its --id)")
    .requiredOption(
      "--creds <file>",
      "the process's credentials file: reused when it exists, else created (0600)",
    )
    .option("--labels <a,b>", "the agent's labels (its --labels): its pools' job subjects", "x86_64")
    .option("--prefix <name>", "the farm's prefix (--prefix of its processes)", "sf")
    .action(
      async (
        role: string,
        id: string | undefined,
        opts: { creds: string; labels: string; prefix: string },
      ) => {
        if (role !== "coordinator" && role !== "agent")
          throw new StagefarmError("invalid_argument", `role "${role}": coordinator or agent`);
        const { block, created } = await natsUserBlockFor({
          role,
          ...(id === undefined ? {} : { agentId: id }),
          labels: opts.labels
            .split(",")
            .map((l) => l.trim())
            .filter((l) => l !== ""),
          prefix: opts.prefix,
          credsFile: opts.creds,
        });
        if (created) ctx.stderr.write(`wrote a new nkey seed to ${opts.creds} (mode 0600)\n`);
        ctx.stdout.write(`${block}\n`);
      },
    );
}
