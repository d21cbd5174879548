/**
 * The validation pass's second opinion: GNU tar's own verbose list of an archive's members,
 * compared with the members the check (tar-stream) saw, entry by entry.
 *
 * The check and the extraction parse the archive with different code. Where the two read a
 * header differently (a size field GNU tar reads another way, the size of a link, which GNU tar
 * ignores and tar-stream skips as data), GNU tar would extract members the check never saw, or
 * the same names as other things. So while the check runs, `tar --list --verbose` reads the same
 * file, and the archive is refused unless both saw the same members in the same order, each with
 * the same type, permission bits, size (device numbers for a device) and link target, and GNU
 * tar read it without complaint. Names alone are not enough: two parsers that disagree on a
 * header can still agree on its name.
 *
 * GNU tar prints names with `--quoting-style=c` ("…" with `\\`, `\"`, `\n`, … and `\ooo` for
 * other bytes): unambiguous even for a name holding " -> ". They are turned back into bytes and
 * decoded as UTF-8 the way tar-stream decodes names, so that both sides compare as equal strings.
 */
import { StagefarmError } from "../errors.js";
import { excerpt, quoted } from "../util/excerpt.js";
import { tarDecompressOption, type Compression } from "./compression.js";
import { describeExit, startTool, succeeded, type RunningTool } from "./tool-process.js";

/** One member as both sides describe it, in GNU tar's terms ("-rw-r--r--", "1,3", …). */
export interface ListedMember {
  name: string;
  /** `ls -l` type letter and permission bits, as GNU tar prints them ("hrw-r--r--"). */
  mode: string;
  /** The size, or "major,minor" for a device node. */
  size: string;
  /** " -> target" for a symlink, " link to target" for a hardlink, "" otherwise. */
  link: string;
}

export interface GnuResult {
  members: ListedMember[];
  ok: boolean;
  why: string;
}

export interface GnuListing {
  /** GNU tar's members, once it has exited; and how it exited. */
  readonly result: Promise<GnuResult>;
  /** Stops the listing (after the check refused the archive); resolves once it has exited. */
  stop(): Promise<void>;
}

const C_ESCAPES: Readonly<Record<string, number>> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  "\\": 92,
  '"': 34,
  "?": 63,
};

/** A name as GNU tar prints it with --quoting-style=escape, back to a string. */
export function unescapeGnuName(printed: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < printed.length; i++) {
    const c = printed.charCodeAt(i);
    if (c !== 92) {
      bytes.push(c);
      continue;
    }
    const next = printed[i + 1] ?? "";
    const oct = /^[0-7]{3}/.exec(printed.slice(i + 1, i + 4));
    if (oct !== null) {
      bytes.push(parseInt(oct[0], 8) & 0xff);
      i += 3;
    } else if (next in C_ESCAPES) {
      bytes.push(C_ESCAPES[next] ?? 92);
      i += 1;
    } else bytes.push(c);
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Starts `tar --list` on `file`; its output is read as it comes. */
export async function startGnuListing(
  file: string,
  compression: Compression,
  signal: AbortSignal | undefined,
): Promise<GnuListing> {
  const tool: RunningTool = await startTool(
    "tar",
    [
      "--list",
      "--verbose",
      "--numeric-owner",
      "--quoting-style=c",
      ...tarDecompressOption(compression),
      `--file=${file}`,
    ],
    { signal },
  );
  const chunks: Buffer[] = [];
  const read = new Promise<void>((resolve) => {
    tool.stdout.on("data", (c: Buffer) => chunks.push(c));
    tool.stdout.once("close", () => resolve());
    tool.stdout.once("error", () => resolve());
  });
  const result = (async () => {
    const exit = await tool.exited;
    await read;
    const text = Buffer.concat(chunks).toString("latin1");
    const members = text === "" ? [] : text.replace(/\n$/, "").split("\n").map(parseVerboseLine);
    return { members, ok: succeeded(exit), why: describeExit("tar", exit) };
  })();
  return {
    result,
    async stop() {
      tool.kill();
      await result;
    },
  };
}

/** A C-quoted string at the start of `text`: its value and the rest of the text after it. */
function cString(text: string): { value: string; rest: string } | undefined {
  const m = /^"((?:[^"\\]|\\.)*)"/.exec(text);
  if (m === null) return undefined;
  return { value: unescapeGnuName(m[1] ?? ""), rest: text.slice(m[0].length) };
}

/**
 * One line of `tar -tv --numeric-owner --quoting-style=c`:
 * `-rw-r--r-- 0/0   5 2023-11-14 22:13 "name"`, plus ` -> "target"` or ` link to "target"`.
 * A line that does not have this shape yields a member no check entry can equal.
 */
export function parseVerboseLine(line: string): ListedMember {
  const odd: ListedMember = { name: line, mode: "?", size: "?", link: "?" };
  const q = line.indexOf('"');
  if (q < 0) return odd;
  const [mode, , size] = line.slice(0, q).trim().split(/ +/);
  const name = cString(line.slice(q));
  if (mode === undefined || size === undefined || name === undefined) return odd;
  let link = "";
  if (name.rest !== "") {
    const m = /^( -> | link to )(".*)$/.exec(name.rest);
    const target = m === null ? undefined : cString(m[2] ?? "");
    // Anything else after the name (GNU tar's "unknown file type" note) cannot equal a check entry.
    if (m === null || target === undefined || target.rest !== "")
      return { name: name.value, mode, size, link: `?${name.rest}` };
    link = `${m[1] ?? ""}${target.value}`;
  }
  return { name: name.value, mode, size, link };
}

/**
 * Refuses the archive unless GNU tar listed it without error and saw exactly the members the
 * check saw (`checked`, in archive order), each with the same type, mode, size and link.
 */
export function compareListings(
  label: string,
  what: string,
  checked: readonly ListedMember[],
  gnu: GnuResult,
): void {
  const refuse = (reason: string): StagefarmError =>
    new StagefarmError("unsafe_archive", `${what} is unsafe: GNU tar ${reason}`, {
      details: { archive: label, reason },
    });
  if (!gnu.ok) throw refuse(`does not read it cleanly (${excerpt(gnu.why, 400)})`);
  const n = Math.min(checked.length, gnu.members.length);
  for (let i = 0; i < n; i++) {
    const a = checked[i];
    const b = gnu.members[i];
    if (a === undefined || b === undefined) break;
    if (a.name !== b.name)
      throw refuse(
        `reads member ${i + 1} as ${quoted(b.name, 200)} where the check read ${quoted(a.name, 200)}: the archive's headers are ambiguous`,
      );
    for (const k of ["mode", "size", "link"] as const)
      if (a[k] !== b[k])
        throw refuse(
          `reads member ${i + 1} (${quoted(a.name, 200)}) with ${k} ${quoted(b[k] || "(none)", 200)} where the check read ${quoted(a[k] || "(none)", 200)}: the archive's headers are ambiguous`,
        );
  }
  if (checked.length !== gnu.members.length)
    throw refuse(
      gnu.members.length > checked.length
        ? `sees a member the check did not (${quoted(gnu.members[n]?.name ?? "", 200)}): the archive's headers are ambiguous`
        : `stops after ${gnu.members.length} of the ${checked.length} members the check saw (an end-of-archive marker before ${quoted(checked[n]?.name ?? "", 200)})`,
    );
}
