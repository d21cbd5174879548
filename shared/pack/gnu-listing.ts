/**
 * The validation pass's second opinion: GNU tar's own list of an archive's members, compared
 * with the members the check (tar-stream) saw.
 *
 * The check and the extraction parse the archive with different code. Where the two read a
 * header differently (a size field GNU tar reads another way, the size of a hardlink, which GNU
 * tar ignores and tar-stream skips as data), GNU tar would extract members the check never saw.
 * So while the check runs, `tar --list` reads the same file, and the archive is refused unless
 * both saw the same members, in the same order, and GNU tar read it without complaint.
 *
 * GNU tar prints names with `--quoting-style=escape` (`\\`, `\n`, `\t`, … and `\ooo` for other
 * bytes); they are turned back into bytes and decoded as UTF-8 the way tar-stream decodes
 * names, so that both sides compare as equal strings.
 */
import { StagefarmError } from "../errors.js";
import { tarDecompressOption, type Compression } from "./compression.js";
import { describeExit, startTool, succeeded, type RunningTool } from "./tool-process.js";

export interface GnuListing {
  /** GNU tar's member names, once it has exited; and how it exited. */
  readonly result: Promise<{ names: string[]; ok: boolean; why: string }>;
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
    ["--list", "--quoting-style=escape", ...tarDecompressOption(compression), `--file=${file}`],
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
    const names = text === "" ? [] : text.replace(/\n$/, "").split("\n").map(unescapeGnuName);
    return { names, ok: succeeded(exit), why: describeExit("tar", exit) };
  })();
  return {
    result,
    async stop() {
      tool.kill();
      await result;
    },
  };
}

/**
 * Refuses the archive unless GNU tar listed it without error and saw exactly the members the
 * check saw (`checked`, in archive order).
 */
export function compareListings(
  label: string,
  what: string,
  checked: readonly string[],
  gnu: { names: readonly string[]; ok: boolean; why: string },
): void {
  const refuse = (reason: string): StagefarmError =>
    new StagefarmError("unsafe_archive", `${what} is unsafe: GNU tar ${reason}`, {
      details: { archive: label, reason },
    });
  if (!gnu.ok) throw refuse(`does not read it cleanly (${gnu.why.replace(/\n/g, "; ")})`);
  const n = Math.min(checked.length, gnu.names.length);
  for (let i = 0; i < n; i++) {
    const a = checked[i] ?? "";
    const b = gnu.names[i] ?? "";
    if (a !== b)
      throw refuse(
        `reads member ${i + 1} as "${clip(b)}" where the check read "${clip(a)}": the archive's headers are ambiguous`,
      );
  }
  if (checked.length !== gnu.names.length)
    throw refuse(
      gnu.names.length > checked.length
        ? `sees a member the check did not ("${clip(gnu.names[n] ?? "")}"): the archive's headers are ambiguous`
        : `stops after ${gnu.names.length} of the ${checked.length} members the check saw (an end-of-archive marker before "${clip(checked[n] ?? "")}")`,
    );
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
