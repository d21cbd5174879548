/**
 * USE-conditional evaluation of dependency strings, as portage applies it to the *DEPEND,
 * LICENSE, PROPERTIES and RESTRICT values it writes into a binhost's `Packages` index
 * (`binarytree._eval_use_flags`: `use_reduce(value, uselist=USE)` then `paren_enclose`).
 *
 * Protocol (reproduces portage's non-flat reduction, checked against portage 3.0.x):
 * - `flag? ( … )` / `!flag? ( … )` keep their contents when active and vanish otherwise.
 * - Plain groups `( … )` are flattened into their parent unless they are an alternative of an
 *   any-of group; `|| ( A )` becomes `A`; `|| ( A || ( B C ) )` becomes `|| ( A B C )`; an
 *   any-of group whose alternatives all vanished becomes `__const__/empty-any-of`.
 * - In dependency keys, atoms' conditional USE deps (`[f?]`, `[!f?]`, `[f=]`, `[!f=]`) are
 *   evaluated; other atoms pass through unchanged. Atoms are not otherwise validated.
 * - Malformed strings (unbalanced parentheses, a conditional or `||` without a group, an empty
 *   group, a bad USE flag) throw `invalid_argument`.
 */
import { StagefarmError } from "../errors.js";

/** One reduced element: a token, or a parenthesised group. */
export type DepItem = string | DepItem[];

/** The characters Python's `str.split()` splits on (portage splits values with it). */
// eslint-disable-next-line no-control-regex
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** Splits like Python's `str.split()` without arguments: runs of whitespace, no empty words. */
export function splitWords(value: string): string[] {
  return value.split(PY_WHITESPACE).filter((w) => w !== "");
}

/** Portage's whitespace normalisation of metadata values: `" ".join(value.split())`. */
export function normaliseSpace(value: string): string {
  return splitWords(value).join(" ");
}

const USE_FLAG = /^[A-Za-z0-9][A-Za-z0-9+_@-]*$/;
const USE_DEP = /^([!-]?)([A-Za-z0-9][A-Za-z0-9+_@-]*)((?:\(\+\)|\(-\))?)([?=]?)$/;
const EMPTY_ANY_OF = "__const__/empty-any-of";

function bad(message: string): StagefarmError {
  return new StagefarmError("invalid_argument", message);
}

/** Whether a `flag?` / `!flag?` conditional token is active under `use`. */
function isActive(conditional: string, use: ReadonlySet<string>): boolean {
  const negated = conditional.startsWith("!");
  const flag = conditional.slice(negated ? 1 : 0, -1);
  if (!USE_FLAG.test(flag)) throw bad(`invalid USE flag "${flag}" in conditional "${conditional}"`);
  return use.has(flag) !== negated;
}

/**
 * An atom with its conditional USE deps evaluated (portage's `Atom.evaluate_conditionals`):
 * unchanged when it has none; otherwise rebuilt as the atom before its slot or USE part, the
 * slot part, and the evaluated USE deps (omitted when none remain).
 */
export function evaluateAtomUse(atom: string, use: ReadonlySet<string>): string {
  const open = atom.indexOf("[");
  if (open === -1) return atom;
  if (!atom.endsWith("]")) throw bad(`invalid atom "${atom}": its USE dependency is not closed`);
  const tokens = atom.slice(open + 1, -1).split(",");
  const parsed = tokens.map((t) => {
    const m = USE_DEP.exec(t);
    const op = m === null ? "" : `${m[1] ?? ""}${m[4] ?? ""}`;
    if (m === null || !["", "-", "?", "=", "!=", "!?"].includes(op))
      throw bad(`invalid atom "${atom}": invalid USE dependency "${t}"`);
    return { token: t, op, flag: m[2] ?? "", dflt: m[3] ?? "" };
  });
  // A flag is either always given the same default, (+) or (-), or never given one.
  const defaults = new Map<string, string>();
  for (const p of parsed) {
    const seen = defaults.get(p.flag);
    if (seen !== undefined && seen !== p.dflt)
      throw bad(`invalid atom "${atom}": USE flag "${p.flag}" has conflicting defaults`);
    defaults.set(p.flag, p.dflt);
  }
  if (!parsed.some((p) => p.op.endsWith("?") || p.op.endsWith("="))) return atom;
  const out: string[] = [];
  for (const { token, op, flag, dflt } of parsed) {
    const on = use.has(flag);
    if (op === "?") {
      if (on) out.push(flag + dflt);
    } else if (op === "!?") {
      if (!on) out.push(`-${flag}${dflt}`);
    } else if (op === "=") out.push(on ? flag + dflt : `-${flag}${dflt}`);
    else if (op === "!=") out.push(on ? `-${flag}${dflt}` : flag + dflt);
    else out.push(token);
  }
  // Portage keeps what precedes the first ':' (or the '[' when there is no slot), then the slot.
  const head = atom.slice(0, open);
  const colon = head.indexOf(":");
  let rebuilt = colon === -1 ? head : head.slice(0, colon);
  if (colon !== -1 && head[colon + 1] !== ":") {
    const repoAt = head.indexOf("::", colon + 1);
    rebuilt += head.slice(colon, repoAt === -1 ? head.length : repoAt);
  }
  return out.length === 0 ? rebuilt : `${rebuilt}[${out.join(",")}]`;
}

/** Whether frame `k` exists and ends with `||` (its next group is an any-of's alternatives). */
function endsInAnyOf(frames: DepItem[][], k: number): boolean {
  return k >= 0 && frames[k]?.at(-1) === "||";
}

/**
 * The nearest enclosing frame (from `k` outwards) that ends in `||`, looking through frames that
 * end in a conditional or a group, and in an atom when `atoms` (portage ≥ 3.0.82: its Atom is no
 * longer a str, so such frames are skipped too); -1 when a plain token ends one first.
 */
function enclosingAnyOf(frames: DepItem[][], k: number, atoms: boolean): number {
  for (; k >= 0; k--) {
    const last = frames[k]?.at(-1);
    if (typeof last !== "string") continue;
    if (last === "||") return k;
    if (!last.endsWith("?") && !atoms) return -1;
  }
  return -1;
}

/** Adds a closed group `l` to `parent` (frame `p`), dropping brackets that carry no meaning. */
function appendGroup(frames: DepItem[][], p: number, l: DepItem[], single: boolean, atoms: boolean): void {
  const parent = frames[p] ?? [];
  const [first, second] = l;
  if (!single) parent.push(l);
  else if (first === "||" && endsInAnyOf(frames, p - 1) && Array.isArray(second)) parent.push(...second);
  else if (l.length === 1 && Array.isArray(first)) {
    if (enclosingAnyOf(frames, p - 1, atoms) === -1) parent.push(...first);
    else parent.push(first);
  } else parent.push(...l);
}

/** Evaluates `use` conditionals in `value`; `atoms` evaluates atoms' conditional USE deps too. */
export function reduceDeps(value: string, use: ReadonlySet<string>, atoms: boolean): DepItem[] {
  const words = splitWords(value);
  const frames: DepItem[][] = [[]];
  let needGroup = false;
  words.forEach((word, i) => {
    const at = `token ${i + 1}`;
    const top = frames.length - 1;
    if (word === "(") {
      if (words[i + 1] === ")") throw bad(`expected a dependency string, got ")", ${at}`);
      needGroup = false;
      frames.push([]);
    } else if (word === ")") {
      if (needGroup) throw bad(`expected "(", got ")", ${at}`);
      if (top === 0) throw bad(`no matching "(" for ")", ${at}`);
      const l = frames.pop() ?? [];
      const p = top - 1;
      const parent = frames[p] ?? [];
      const single = l.length === 1 || (l.length === 2 && l[0] === "||");
      let keep = true;
      const before = parent.at(-1);
      if (typeof before === "string") {
        if (before === "||" && l.length === 0) {
          l.push(EMPTY_ANY_OF);
          parent.pop();
        } else if (before.endsWith("?")) {
          keep = isActive(before, use);
          parent.pop();
        }
      }
      if (l.length === 0 || !keep) return;
      if (!endsInAnyOf(frames, p - 1) && !endsInAnyOf(frames, p)) parent.push(...l);
      else if (parent.length === 0) appendGroup(frames, p, l, single, atoms);
      else if (single && endsInAnyOf(frames, p)) {
        parent.pop();
        appendGroup(frames, p, l, single, atoms);
      } else if (endsInAnyOf(frames, p) && endsInAnyOf(frames, p - 1)) {
        parent.pop();
        parent.push(...l);
      } else appendGroup(frames, p, l, single, atoms);
    } else if (word === "||") {
      if (needGroup) throw bad(`expected "(", got "||", ${at}`);
      needGroup = true;
      frames[top]?.push(word);
    } else if (word === "->") {
      throw bad(`SRC_URI arrows are only allowed in SRC_URI, ${at}`);
    } else {
      if (needGroup) throw bad(`expected "(", got "${word}", ${at}`);
      if (word.endsWith("?")) needGroup = true;
      frames[top]?.push(atoms && !word.endsWith("?") ? evaluateAtomUse(word, use) : word);
    }
  });
  if (frames.length !== 1) throw bad(`missing ")" at the end`);
  if (needGroup) throw bad(`missing "(" at the end`);
  return frames[0] ?? [];
}

/** Portage's `paren_enclose`: tokens joined by spaces, groups as `( … )`. */
export function encloseParens(items: readonly DepItem[]): string {
  return items.map((x) => (typeof x === "string" ? x : `( ${encloseParens(x)} )`)).join(" ");
}

/** `reduceDeps` then `encloseParens`: the value portage writes for a USE-evaluated key. */
export function evaluateDeps(value: string, use: ReadonlySet<string>, atoms: boolean): string {
  return encloseParens(reduceDeps(value, use, atoms));
}
