/**
 * catalyst.conf values checked the way Catalyst 4.1.1 uses them (facts: ./upstream-4.1.1.ts):
 * each key's type, the option names, the digest names. `%` needs no check here: the runner
 * writes every string with `%` doubled (see {@link escapePercent}), so Catalyst's
 * `value % conf_values` gives back the value as the pipeline wrote it.
 */
import { didYouMean } from "../pipeline/suggest.js";
import { quoted } from "../util/excerpt.js";
import {
  CATALYST_DATA_VERSION,
  CATALYST_OPTIONS,
  CONF_KEY_TYPES,
  CONF_KEYS_AFTER_4_1_1,
  GUARANTEED_DIGESTS,
  type ConfKey,
  type ConfValueType,
} from "./upstream-4.1.1.js";

export const CATALYST_CONF_KEYS: readonly string[] = Object.keys(CONF_KEY_TYPES);

function isConfKey(key: string): key is ConfKey {
  return Object.hasOwn(CONF_KEY_TYPES, key);
}

/** Why `key` cannot be set in catalyst.conf, or undefined when it can. */
export function confKeyProblem(key: string): string | undefined {
  if (isConfKey(key)) return undefined;
  if ((CONF_KEYS_AFTER_4_1_1 as readonly string[]).includes(key))
    return `"${key}" is read only by Catalyst after ${CATALYST_DATA_VERSION} (${CATALYST_DATA_VERSION} logs it as an unknown option and ignores it)`;
  return `"${key}" is not a catalyst.conf setting${didYouMean(key, CATALYST_CONF_KEYS)}`;
}

function listOfNames(
  value: unknown,
  known: readonly string[],
  what: string,
  whyList: string,
): string | undefined {
  if (!Array.isArray(value))
    return `must be a list of ${what} (${whyList}), got ${typeof value === "string" ? `the string ${quoted(value)}` : typeof value}`;
  for (const item of value) {
    if (typeof item !== "string") return `must be a list of ${what}, got an item of type ${typeof item}`;
    if (!known.includes(item)) return `${quoted(item)} is not one of the ${what}${didYouMean(item, known)}`;
  }
  return undefined;
}

const TYPE_CHECKS: Record<ConfValueType, (value: unknown) => string | undefined> = {
  string: (v) =>
    typeof v === "string" ? undefined : `must be a string, got ${Array.isArray(v) ? "a list" : typeof v}`,
  options: (v) =>
    listOfNames(
      v,
      CATALYST_OPTIONS,
      "Catalyst options",
      "Catalyst extends it as a list: a string such as \"pkgcache seedcache\" crashes it with \"'str' object has no attribute 'extend'\"",
    ),
  digests: (v) =>
    listOfNames(
      v,
      GUARANTEED_DIGESTS,
      "hashlib digests every Python has",
      'Catalyst makes a set of it: a string such as "sha512" becomes its letters and is refused',
    ),
  "positive-integer": (v) =>
    typeof v === "number" && Number.isInteger(v) && v > 0 ? undefined : "must be a positive integer",
  "positive-number": (v) =>
    typeof v === "number" && Number.isFinite(v) && v > 0 ? undefined : "must be a positive number",
};

/** Why `value` is not usable for catalyst.conf `key` (a known key), or undefined. */
export function confValueProblem(key: string, value: unknown): string | undefined {
  if (!isConfKey(key)) return confKeyProblem(key);
  return TYPE_CHECKS[CONF_KEY_TYPES[key]](value);
}

/** `%` doubled: Catalyst %-formats conf strings and spec key-line values with a mapping. */
export function escapePercent(value: string): string {
  return value.replaceAll("%", "%%");
}
