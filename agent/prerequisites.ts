/**
 * The host tools an agent's labels promise, checked when `stagefarm agent` starts.
 *
 * A label is a promise to the scheduler: a stage that `requires: [catalyst]` goes to any agent
 * offering `catalyst`, and fails there hours later if Catalyst (or the tools its targets call on
 * the host) is missing. So at start the agent looks each promised tool up on its PATH and, for
 * every tool missing, says which one, for which label, and which package provides it (one line
 * each). A label with a missing tool is dropped: the agent still serves the pools its other
 * labels pick, and no stage is sent where it cannot run. (Refusing to start would take a host
 * out of every pool for one missing package; keeping the label would fail stages instead of
 * placing them elsewhere.)
 *
 * What each label needs, and why
 * - `catalyst`: `catalyst` (dev-util/catalyst, keyworded ~amd64 only); squashfs-tools-ng's
 *   `tar2sqfs` (the runner packs the repository snapshot with it, as `catalyst --snapshot`
 *   does) and `gensquashfs` (Catalyst 4.1.1's targets/support/target_image_setup.sh packs the
 *   live image with it); `git` (catalyst's snapshot target); and for the amd64 install ISO,
 *   what targets/support/create-iso.sh checks for: `grub-mkrescue` (sys-boot/grub:2, with
 *   GRUB_PLATFORMS efi-32 for the 32-bit UEFI boot image releng's ISO carries), `xorriso`
 *   (dev-libs/libisoburn) and `mformat` (sys-fs/mtools). Catalyst also imports Python's
 *   `libmount`, which only sys-apps/util-linux[python] installs; that is no program on PATH, so
 *   it is listed in docs/catalyst.md rather than checked here.
 * - `chroot`: what agent/runners/chroot/exec.ts starts: `setpriv` and `unshare` (util-linux),
 *   `mount`/`umount`, `bash`, and GNU `tar` and `zstd` for packing and unpacking trees.
 * - `emerge` runs in a chroot (the `chroot` label's tools).
 */
import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { StagefarmError } from "../shared/errors.js";
import { quoted } from "../shared/util/excerpt.js";
import { BASE_PATH } from "./runners/index.js";

export interface ToolNeed {
  tool: string;
  /** What provides it: the Gentoo package, and the Debian one when it differs. */
  gentoo: string;
  debian?: string;
  why: string;
}

const CHROOT_TOOLS: readonly ToolNeed[] = [
  {
    tool: "setpriv",
    gentoo: "sys-apps/util-linux",
    debian: "util-linux",
    why: "the chroot's parent-death signal",
  },
  {
    tool: "unshare",
    gentoo: "sys-apps/util-linux",
    debian: "util-linux",
    why: "the chroot's private mount and pid namespace",
  },
  {
    tool: "mount",
    gentoo: "sys-apps/util-linux",
    debian: "mount",
    why: "proc, sys, dev, dev/pts and dev/shm in the chroot",
  },
  { tool: "umount", gentoo: "sys-apps/util-linux", debian: "mount", why: "releasing the chroot's mounts" },
  { tool: "bash", gentoo: "app-shells/bash", debian: "bash", why: "the chroot setup script" },
  { tool: "tar", gentoo: "app-arch/tar", debian: "tar", why: "packing and unpacking root trees" },
  { tool: "zstd", gentoo: "app-arch/zstd", debian: "zstd", why: "farm-made tarballs" },
];

/** The tools each label promises. */
export const LABEL_TOOLS: Readonly<Record<string, readonly ToolNeed[]>> = {
  catalyst: [
    { tool: "catalyst", gentoo: "dev-util/catalyst (~amd64: accept_keywords)", why: "the catalyst runner" },
    {
      tool: "tar2sqfs",
      gentoo: "sys-fs/squashfs-tools-ng",
      debian: "squashfs-tools-ng",
      why: "packing the repository snapshot",
    },
    {
      tool: "gensquashfs",
      gentoo: "sys-fs/squashfs-tools-ng",
      debian: "squashfs-tools-ng",
      why: "Catalyst's live image",
    },
    { tool: "git", gentoo: "dev-vcs/git", debian: "git", why: "Catalyst's snapshot target" },
    {
      tool: "grub-mkrescue",
      gentoo: "sys-boot/grub:2 (GRUB_PLATFORMS: efi-32 efi-64 pc)",
      debian: "grub-common",
      why: "the install ISO",
    },
    { tool: "xorriso", gentoo: "dev-libs/libisoburn", debian: "xorriso", why: "the install ISO" },
    { tool: "mformat", gentoo: "sys-fs/mtools", debian: "mtools", why: "the install ISO's EFI image" },
  ],
  chroot: CHROOT_TOOLS,
  emerge: CHROOT_TOOLS,
};

export interface MissingTool extends ToolNeed {
  label: string;
}

export interface PrerequisiteReport {
  /** The labels to advertise: those given, less any with a missing tool. */
  labels: string[];
  dropped: string[];
  missing: MissingTool[];
  /** One line per missing tool, then one per dropped label (empty when all is there). */
  lines: string[];
}

/** Whether `tool` is an executable file in one of the PATH directories. */
export async function onPath(tool: string, path: string): Promise<boolean> {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    try {
      await access(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * Checks the tools `labels` promise, looked up on `path`: by default the PATH the runners give
 * the tools they start (agent/runners/common/script-env.ts), not the agent's own.
 */
export async function checkPrerequisites(
  labels: readonly string[],
  path: string = BASE_PATH,
  found: (tool: string, path: string) => Promise<boolean> = onPath,
): Promise<PrerequisiteReport> {
  const missing: MissingTool[] = [];
  const dropped: string[] = [];
  for (const label of labels) {
    const needs = LABEL_TOOLS[label] ?? [];
    const absent: ToolNeed[] = [];
    for (const need of needs) if (!(await found(need.tool, path))) absent.push(need);
    for (const a of absent) missing.push({ ...a, label });
    if (absent.length > 0) dropped.push(label);
  }
  const lines = [
    ...missing.map(
      (m) =>
        `missing: ${m.tool} (label ${m.label}: ${m.why}) — install ${m.gentoo}${m.debian === undefined ? "" : ` (Debian: ${m.debian})`}`,
    ),
    ...dropped.map(
      (l) =>
        `label ${l} dropped: this agent will not take stages that require it until the tools above are installed`,
    ),
  ];
  return { labels: labels.filter((l) => !dropped.includes(l)), dropped, missing, lines };
}

/** What to do with a label whose tools are missing. */
export const MISSING_TOOLS_MODES = ["drop", "refuse", "warn"] as const;
export type MissingToolsMode = (typeof MISSING_TOOLS_MODES)[number];

function isMode(mode: string): mode is MissingToolsMode {
  return (MISSING_TOOLS_MODES as readonly string[]).includes(mode);
}

/**
 * The labels an agent advertises after the check, and the lines to print: `drop` (the default)
 * drops a label lacking a tool; `refuse` throws `invalid_argument` naming every missing tool;
 * `warn` keeps every label and only says what is missing (for a host whose tools the check
 * cannot see, or a test farm whose `catalyst` label is only a pool name).
 */
export async function labelsWithTools(
  labels: readonly string[],
  mode: string,
  path: string = BASE_PATH,
): Promise<{ labels: string[]; lines: string[] }> {
  if (!isMode(mode))
    throw new StagefarmError(
      "invalid_argument",
      `--missing-tools must be one of ${MISSING_TOOLS_MODES.join(", ")}, got ${quoted(mode)}`,
    );
  const report = await checkPrerequisites(labels, path);
  const missingLines = report.lines.filter((l) => l.startsWith("missing: "));
  if (mode === "refuse" && report.missing.length > 0)
    throw new StagefarmError(
      "invalid_argument",
      `${missingLines.join("\n")}\nthe labels ${report.dropped.join(", ")} promise tools this host lacks; install them, or start with --missing-tools drop`,
      { details: { missing: report.missing.map((m) => m.tool) } },
    );
  if (mode === "warn") return { labels: [...labels], lines: missingLines };
  return { labels: report.labels, lines: report.lines };
}
