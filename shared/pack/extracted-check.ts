/**
 * Defence in depth after extraction: what GNU tar really wrote is checked again, independently
 * of the validation pass, so a parser differential the checks missed still cannot leave a device
 * node or an escaping symlink behind. `find` lists every device node and symlink below the
 * destination (without following links); device nodes are refused unless allowed, and every
 * relative symlink is resolved through the others (./symlink-escape.ts) as the kernel would.
 */
import { StagefarmError } from "../errors.js";
import { excerpt } from "../util/excerpt.js";
import { resolveLink, type StepBudget } from "./symlink-escape.js";
import { describeExit, startTool, succeeded } from "./tool-process.js";

const STEPS_PER_LINK = 512;
const STEPS_PER_TREE = 4_000_000;

/** Throws `unsafe_archive` when `dest` holds a device node (unless allowed) or an escaping symlink. */
export async function checkExtracted(
  dest: string,
  allowDevices: boolean,
  label: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const find = await startTool(
    "find",
    [
      "-P",
      dest,
      "-mindepth",
      "1",
      "(",
      "-type",
      "b",
      "-o",
      "-type",
      "c",
      "-o",
      "-type",
      "l",
      ")",
      "-printf",
      "%y%P\\0%l\\0",
    ],
    { signal },
  );
  const chunks: Buffer[] = [];
  find.stdout.on("data", (c: Buffer) => chunks.push(c));
  const exit = await find.exited;
  if (!succeeded(exit))
    throw new StagefarmError(
      "internal",
      `cannot check what ${label} unpacked to: ${describeExit("find", exit)}`,
    );
  // latin1 maps bytes 1:1, so names that are not UTF-8 still match each other exactly.
  const fields = Buffer.concat(chunks).toString("latin1").split("\0");
  const links = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const rec = fields[i] ?? "";
    const type = rec.slice(0, 1);
    const path = rec.slice(1);
    if ((type === "b" || type === "c") && !allowDevices)
      refuse(label, path, "GNU tar extracted a device node the check did not see");
    if (type === "l") links.set(path, fields[i + 1] ?? "");
  }
  const budget: StepBudget = { left: STEPS_PER_TREE };
  for (const [link, target] of links) {
    if (target.startsWith("/")) continue;
    const r = resolveLink(link, target, links, budget, STEPS_PER_LINK);
    if (r.t !== "inside")
      refuse(
        label,
        link,
        `GNU tar extracted a symlink to "${excerpt(target, 200)}" that leads outside the extraction root`,
      );
  }
}

function refuse(label: string, entry: string, reason: string): never {
  const name = excerpt(entry, 300);
  throw new StagefarmError("unsafe_archive", `${label} is unsafe: entry "${name}": ${reason}`, {
    details: { archive: label, entry: name, reason },
  });
}
