/**
 * Demo-like root file systems for the `stagefarm diff` tests: a few packages with a fake vdb
 * (`var/db/pkg/<cat>/<pf>/CONTENTS` in portage's format, USE, BUILD_TIME), built twice with
 * controlled differences. Each variant sets every mtime itself, so two builds of the same
 * variant are byte-identical trees.
 */
import { createHash } from "node:crypto";
import { chmod, lutimes, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { execa } from "execa";

export interface RootVariant {
  /** The build clock: every mtime, BUILD_TIME, CONTENTS mtimes, the .pyc and gzip header times. */
  clock: number;
  /** Text embedded in app-misc/hello's binary (a build timestamp: a real content difference). */
  stamp: string;
  /** Mode of sys-apps/tool's usr/bin/tool. */
  toolMode: number;
  /** USE of sys-apps/tool. */
  toolUse: string;
  /** Adds etc/unowned.conf, which no package owns. */
  extra: boolean;
}

export const BASE: RootVariant = {
  clock: 1_700_000_000,
  stamp: "built 2026-12-07T10:00:00Z",
  toolMode: 0o755,
  toolUse: "amd64 ssl",
  extra: false,
};

interface PkgFile {
  path: string;
  content: Buffer;
  mode?: number;
}

function pyc(clock: number): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt16LE(3531, 0); // CPython 3.12
  head.write("\r\n", 2, "latin1");
  head.writeUInt32LE(0, 4); // timestamp-based
  head.writeUInt32LE(clock, 8);
  head.writeUInt32LE(42, 12);
  return Buffer.concat([head, Buffer.from("\xe3code object bytes", "latin1")]);
}

function gzipWithMtime(text: string, clock: number): Buffer {
  const gz = gzipSync(Buffer.from(text));
  gz.writeUInt32LE(clock, 4);
  return gz;
}

function packages(v: RootVariant): Map<string, PkgFile[]> {
  return new Map([
    [
      "app-misc/hello-1",
      [
        { path: "usr/bin/hello", content: Buffer.from(`#!/bin/sh\necho hello # ${v.stamp}\n`), mode: 0o755 },
        { path: "usr/share/doc/hello-1/README.gz", content: gzipWithMtime("read me\n", v.clock) },
        { path: "usr/share/hello/my file with spaces.txt", content: Buffer.from("spaced\n") },
      ],
    ],
    ["sys-apps/tool-2", [{ path: "usr/bin/tool", content: Buffer.from("tool\n"), mode: v.toolMode }]],
    [
      "dev-lang/python-3.12.8",
      [{ path: "usr/lib/python3.12/__pycache__/m.cpython-312.pyc", content: pyc(v.clock) }],
    ],
  ]);
}

function md5(b: Buffer): string {
  return createHash("md5").update(b).digest("hex");
}

/** Writes the variant's root under `root` (created). */
export async function buildRoot(root: string, v: RootVariant): Promise<void> {
  for (const [cpv, files] of packages(v)) {
    const contents: string[] = [];
    const dirs = new Set<string>();
    for (const f of files) {
      for (let d = dirname(f.path); d !== "."; d = dirname(d)) dirs.add(d);
      await mkdir(join(root, dirname(f.path)), { recursive: true });
      await writeFile(join(root, f.path), f.content);
      await chmod(join(root, f.path), f.mode ?? 0o644);
      contents.push(`obj /${f.path} ${md5(f.content)} ${v.clock}`);
    }
    const vdb = join(root, "var/db/pkg", cpv);
    await mkdir(vdb, { recursive: true });
    const dirLines = [...dirs].sort().map((d) => `dir /${d}`);
    await writeFile(join(vdb, "CONTENTS"), `${[...dirLines, ...contents].join("\n")}\n`);
    await writeFile(join(vdb, "BUILD_TIME"), `${v.clock}\n`);
    await writeFile(join(vdb, "USE"), `${cpv.startsWith("sys-apps/tool") ? v.toolUse : "amd64"}\n`);
  }
  await mkdir(join(root, "usr/bin"), { recursive: true });
  await symlink("hello", join(root, "usr/bin/hi"));
  if (v.extra) {
    await mkdir(join(root, "etc"), { recursive: true });
    await writeFile(join(root, "etc/unowned.conf"), "host=builder-b\n");
  }
  await stampTimes(root, v.clock);
}

/** Every mtime under `root` (root included, symlinks themselves) set to `clock`. */
async function stampTimes(root: string, clock: number): Promise<void> {
  const entries = await readdir(root, { recursive: true });
  for (const rel of entries) await lutimes(join(root, rel), clock, clock);
  await lutimes(root, clock, clock);
}

/** GNU tar of `root` (POSIX format, sorted, numeric owners), compressed per the file name. */
export async function tarRoot(root: string, file: string): Promise<void> {
  const compress = file.endsWith(".zst") ? ["--zstd"] : file.endsWith(".xz") ? ["--xz"] : [];
  await execa("tar", [
    "--create",
    `--file=${file}`,
    ...compress,
    "--format=posix",
    "--pax-option=delete=atime,delete=ctime",
    "--sort=name",
    "--numeric-owner",
    `--directory=${root}`,
    ".",
  ]);
}
