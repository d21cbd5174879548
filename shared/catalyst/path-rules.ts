/**
 * Values of a catalyst stage that become parts of file paths under the runner's storedir, and
 * the rule each one must meet. Checked in the `with` schema (shared/runner-config/catalyst.ts:
 * at validate, again after params are applied, and when the stage runs) and, for what the
 * rendered spec holds, by specLayout (./layout.ts) before anything is placed.
 *
 * - one name (a single file-name component: no "/", not "." or "..", no control characters,
 *   at most MAX_NAME_CHARS): `catalyst_conf.repo_name` (snapshots/<repo_name>-<treeish>.sqfs),
 *   `treeish`, `timestamp`, `datestamp`, and the spec's target, subarch, version_stamp and
 *   snapshot_treeish (builds/<rel_type>/<target>-<subarch>-<version_stamp>.<ext>);
 * - a relative subpath (components that are each one name): the spec's rel_type,
 *   source_subpath (builds/<source_subpath>.<ext>) and livecd/iso.
 */
import { quoted } from "../util/excerpt.js";

/** Longest name: a file name is at most 255 bytes, and names are joined with suffixes. */
export const MAX_NAME_CHARS = 128;
/** Longest relative subpath. */
export const MAX_SUBPATH_CHARS = 1024;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;

/** Why `value` is not one file-name component, or undefined. */
export function nameProblem(value: string): string | undefined {
  if (value === "") return "must not be empty";
  if (CONTROL.test(value)) return `${quoted(value, 60)} must not contain control characters`;
  if (value.includes("/")) return `${quoted(value, 60)} must be one name, without "/"`;
  if (value === "." || value === "..") return `${quoted(value)} is not a name (it names a directory)`;
  if (Array.from(value).length > MAX_NAME_CHARS) return `is longer than ${MAX_NAME_CHARS} characters`;
  return undefined;
}

/** Why `value` is not a relative subpath of names (no "..", ".", empty or absolute parts), or undefined. */
export function subpathProblem(value: string): string | undefined {
  if (value === "") return "must not be empty";
  if (Array.from(value).length > MAX_SUBPATH_CHARS) return `is longer than ${MAX_SUBPATH_CHARS} characters`;
  if (value.startsWith("/")) return `${quoted(value, 60)} must be a relative path, not absolute`;
  for (const part of value.split("/")) {
    const problem = nameProblem(part);
    if (problem !== undefined)
      return `${quoted(value, 60)} must be a relative path of names (no "..", "." or empty parts): ${problem}`;
  }
  return undefined;
}

/** Spec keys whose value becomes one name in a path (see the module comment). */
export const SPEC_NAME_KEYS = ["target", "subarch", "version_stamp", "snapshot_treeish"] as const;
/** Spec keys whose value becomes a subpath. */
export const SPEC_SUBPATH_KEYS = ["rel_type", "source_subpath", "livecd/iso"] as const;

/** Why an override of spec key `key` with `value` would make a bad path, or undefined. */
export function specPathValueProblem(key: string, value: string | readonly string[]): string | undefined {
  const asName = (SPEC_NAME_KEYS as readonly string[]).includes(key);
  const asSubpath = (SPEC_SUBPATH_KEYS as readonly string[]).includes(key);
  if (!asName && !asSubpath) return undefined;
  if (typeof value !== "string") return `${key} becomes part of a file path: give one value, not a list`;
  const problem = asName ? nameProblem(value.trim()) : subpathProblem(value.trim());
  return problem === undefined ? undefined : `${key} becomes part of a file path: ${problem}`;
}
