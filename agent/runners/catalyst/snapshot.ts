/**
 * The catalyst runner's repository snapshot: either a squashfs already made (placed as it is) or
 * a `git archive` tarball of the gentoo repository at `treeish`, which is checked to be that
 * commit and packed the way `catalyst --snapshot` packs it (shared/catalyst/git-archive.ts):
 * `tar2sqfs <storedir>/snapshots/<repo_name>-<treeish>.sqfs -q -f -j1 -c gzip`, with
 * `--root-becomes <dir>` when the archive has a top directory (gitweb's snapshots do).
 */
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import {
  catalystAutoTimestamp,
  readGitArchiveHead,
  type GitArchiveInfo,
} from "../../../shared/catalyst/index.js";
import { StagefarmError } from "../../../shared/errors.js";

export type SnapshotInput =
  { t: "sqfs" } | { t: "git-archive"; info: GitArchiveInfo; gzip: boolean; timestamp: string };

const HEAD_BYTES = 8192;

async function head(path: string, gzip: boolean): Promise<Buffer> {
  if (!gzip) {
    const fh = await open(path, "r");
    try {
      const buf = Buffer.alloc(HEAD_BYTES);
      const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const source = createReadStream(path, { highWaterMark: 16384 });
  const gunzip = createGunzip();
  source.pipe(gunzip);
  try {
    for await (const chunk of gunzip) {
      const b = chunk as Buffer;
      chunks.push(b);
      total += b.length;
      if (total >= HEAD_BYTES) break;
    }
  } catch {
    // A damaged gzip stream: what was read so far decides.
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  return Buffer.concat(chunks).subarray(0, HEAD_BYTES);
}

/** What the snapshot file is; `invalid_pipeline` when it is neither form, or another commit. */
export async function inspectSnapshot(path: string, stage: string, treeish: string): Promise<SnapshotInput> {
  const first = await head(path, false);
  if (first.subarray(0, 4).toString("latin1") === "hsqs") return { t: "sqfs" };
  const gzip = first[0] === 0x1f && first[1] === 0x8b;
  const info = readGitArchiveHead(gzip ? await head(path, true) : first);
  if (info === undefined)
    throw new StagefarmError(
      "invalid_pipeline",
      `stage "${stage}": the snapshot ${basename(path)} is neither a squashfs nor a \`git archive\` tarball of the repository (no pax header naming its commit)`,
    );
  if (info.commit !== treeish)
    throw new StagefarmError(
      "invalid_pipeline",
      `stage "${stage}": the snapshot archive is of commit ${info.commit}, not of the treeish ${treeish} it would be named after`,
      { details: { stage, commit: info.commit, treeish } },
    );
  return { t: "git-archive", info, gzip, timestamp: catalystAutoTimestamp(info.commitTime) };
}

/** Packs a git-archive snapshot into `out` with tar2sqfs (the command and its leading arguments). */
export async function packSnapshot(opts: {
  archive: string;
  input: Extract<SnapshotInput, { t: "git-archive" }>;
  out: string;
  tar2sqfs: readonly string[];
  env: Record<string, string>;
  signal: AbortSignal;
  stage: string;
  log: (line: string) => void;
}): Promise<void> {
  const [file = "tar2sqfs", ...pre] = opts.tar2sqfs;
  const root = opts.input.info.root;
  const args = [
    ...pre,
    opts.out,
    "-q",
    "-f",
    "-j1",
    "-c",
    "gzip",
    ...(root !== undefined ? ["-r", root] : []),
  ];
  await mkdir(dirname(opts.out), { recursive: true });
  opts.log(`packing the snapshot: ${[file, ...args].join(" ")} < ${basename(opts.archive)}`);
  const child = spawn(file, args, {
    env: opts.env,
    stdio: ["pipe", "ignore", "pipe"],
    signal: opts.signal,
    killSignal: "SIGKILL",
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code));
  });
  const source = createReadStream(opts.archive);
  const feed = opts.input.gzip
    ? pipeline(source, createGunzip(), child.stdin)
    : pipeline(source, child.stdin);
  const [fed, code] = await Promise.allSettled([feed, exited]);
  if (opts.signal.aborted) throw new StagefarmError("cancelled", `stage "${opts.stage}" was cancelled`);
  if (code.status === "rejected") {
    const e = StagefarmError.from(code.reason);
    throw new StagefarmError(
      e.code === "not_found" ? "invalid_argument" : e.code,
      `stage "${opts.stage}": cannot run ${file} to pack the snapshot (squashfs-tools-ng, as \`catalyst --snapshot\` needs): ${e.message}`,
      { cause: e },
    );
  }
  if (code.value !== 0 || fed.status === "rejected")
    throw new StagefarmError(
      "stage_failed",
      `stage "${opts.stage}": ${file} failed (exit ${String(code.value)}) packing the snapshot: ${stderr.trim() || (fed.status === "rejected" ? String(fed.reason) : "(no output)")}`,
    );
}
