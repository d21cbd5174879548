/**
 * Spec keys checked the way Catalyst 4.1.1's addl_arg_parse checks them (facts:
 * ./upstream-4.1.1.ts): every key must be valid for the spec's target, every required key must
 * be there. At validate time the target is not known yet (it is in the releng spec), so an
 * override key is checked against every target; once the spec is rendered, against its own.
 */
import { didYouMean } from "../pipeline/suggest.js";
import {
  CATALYST_DATA_VERSION,
  KERNEL_KEY_SUFFIXES,
  SHAREDIR_FILES_SINCE,
  STAGEBASE_REQUIRED,
  STAGEBASE_VALID,
  TARGET_KEYS,
  type CatalystTarget,
} from "./upstream-4.1.1.js";
import type { SpecDocument, SpecValue } from "./spec.js";

export const CATALYST_TARGETS = Object.keys(TARGET_KEYS) as CatalystTarget[];

function isTarget(name: string): name is CatalystTarget {
  return Object.hasOwn(TARGET_KEYS, name);
}

const DYNAMIC_KEYS: ReadonlyArray<{ re: RegExp; stagebase: boolean; target?: CatalystTarget }> = [
  { re: new RegExp(`^boot/kernel/[^/]+/(${KERNEL_KEY_SUFFIXES.join("|")})$`), stagebase: true },
  { re: /^netboot\/packages\/[^/]+\/files$/, stagebase: false, target: "netboot" },
];

/** The keys a target accepts, the dynamic ones aside. */
export function targetValidKeys(target: CatalystTarget): Set<string> {
  const t = TARGET_KEYS[target];
  const keys = new Set<string>([...t.required, ...t.valid]);
  if (t.stagebase) for (const k of [...STAGEBASE_REQUIRED, ...STAGEBASE_VALID]) keys.add(k);
  else keys.add("target");
  return keys;
}

/** The keys a target requires. */
export function targetRequiredKeys(target: CatalystTarget): string[] {
  const t = TARGET_KEYS[target];
  return t.stagebase ? [...STAGEBASE_REQUIRED, ...t.required] : [...t.required];
}

const ALL_KEYS = [...new Set(CATALYST_TARGETS.flatMap((t) => [...targetValidKeys(t)]))].sort();

/** Whether a dynamic key (`boot/kernel/<name>/<suffix>`) is accepted, given the spec's lists. */
function dynamicKeyOk(
  key: string,
  target: CatalystTarget | undefined,
  settings?: ReadonlyMap<string, SpecValue>,
): boolean {
  const words = (k: string): string[] => {
    const v = settings?.get(k);
    return v === undefined ? [] : typeof v === "string" ? [v] : v;
  };
  for (const d of DYNAMIC_KEYS) {
    if (!d.re.test(key)) continue;
    if (target !== undefined) {
      if (d.target !== undefined && d.target !== target) continue;
      if (d.stagebase && !TARGET_KEYS[target].stagebase) continue;
    }
    if (settings === undefined) return true;
    const name = key.split("/")[2] ?? "";
    const list = key.startsWith("boot/kernel/") ? words("boot/kernel") : words("netboot/packages");
    return list.includes(name);
  }
  return false;
}

/** Why an override key is not a spec key of any Catalyst target, or undefined. */
export function overrideKeyProblem(key: string): string | undefined {
  if (ALL_KEYS.includes(key) || dynamicKeyOk(key, undefined)) return undefined;
  return `"${key}" is not a spec key of any Catalyst ${CATALYST_DATA_VERSION} target (Catalyst refuses it: Argument "${key}" not recognized.)${didYouMean(key, ALL_KEYS)}`;
}

export interface SpecKeyProblem {
  /** `file:line` (or `file` for a missing key). */
  where: string;
  message: string;
}

/**
 * The keys of a rendered spec that Catalyst would refuse for its target, and the required keys
 * it lacks. An unknown target is one problem.
 */
export function specKeyProblems(
  doc: SpecDocument,
  settings: ReadonlyMap<string, SpecValue>,
): SpecKeyProblem[] {
  const target = settings.get("target");
  if (typeof target !== "string" || !isTarget(target))
    return [
      {
        where: doc.file,
        message: `target ${JSON.stringify(target ?? "")} is not a Catalyst ${CATALYST_DATA_VERSION} target (${CATALYST_TARGETS.join(", ")})`,
      },
    ];
  const valid = targetValidKeys(target);
  const out: SpecKeyProblem[] = [];
  const seen = new Set<string>();
  for (const e of doc.entries) {
    if (seen.has(e.key) || !settings.has(e.key)) continue;
    seen.add(e.key);
    if (valid.has(e.key) || dynamicKeyOk(e.key, target, settings)) continue;
    out.push({
      where: `${doc.file}:${e.line}`,
      message: `"${e.key}" is not a spec key of target ${target} in Catalyst ${CATALYST_DATA_VERSION} (Catalyst refuses it: Argument "${e.key}" not recognized.)${didYouMean(e.key, [...valid])}`,
    });
  }
  for (const k of targetRequiredKeys(target))
    if (!settings.has(k))
      out.push({
        where: doc.file,
        message: `target ${target} requires "${k}" (Required argument "${k}" not specified.)`,
      });
  return out;
}

/** A file of Catalyst's sharedir a spec names that no Catalyst release ships yet. */
export interface UnreleasedSharedFile {
  key: string;
  path: string;
  /** First Catalyst commit that ships it. */
  commit: string;
}

/**
 * `livecd/cdtar` values naming a sharedir file only unreleased Catalyst ships (Catalyst ≤
 * 4.1.1 raises "Cannot locate specified cdtar" for them).
 */
export function unreleasedSharedFiles(
  settings: ReadonlyMap<string, SpecValue>,
  sharedir: string,
): UnreleasedSharedFile[] {
  const out: UnreleasedSharedFile[] = [];
  const prefix = `${sharedir.replace(/\/+$/, "")}/`;
  for (const key of ["livecd/cdtar"]) {
    const v = settings.get(key);
    if (typeof v !== "string" || !v.startsWith(prefix)) continue;
    const fact = SHAREDIR_FILES_SINCE[v.slice(prefix.length)];
    if (fact?.commit !== undefined && fact.since === "master")
      out.push({ key, path: v, commit: fact.commit });
  }
  return out;
}
