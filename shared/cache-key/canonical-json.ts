/**
 * Canonical JSON: object keys sorted (by UTF-16 code unit) at every level, no whitespace, plain
 * data only. The same value always gives the same bytes, whatever order it was built in.
 */
import { StagefarmError } from "../errors.js";

function fail(path: string, what: string): never {
  throw new StagefarmError("internal", `canonical JSON: ${what} at ${path || "<root>"}`);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function write(value: unknown, path: string, parents: Set<object>): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) fail(path, `non-finite number ${value}`);
      return JSON.stringify(value);
    case "object": {
      if (parents.has(value)) fail(path, "a cycle");
      parents.add(value);
      let out: string;
      if (Array.isArray(value)) {
        const items: unknown[] = value;
        out = `[${items
          .map((v, i) => {
            if (v === undefined) fail(`${path}[${i}]`, "undefined in an array");
            return write(v, `${path}[${i}]`, parents);
          })
          .join(",")}]`;
      } else if (isPlainObject(value)) {
        const keys = Object.keys(value)
          .filter((k) => value[k] !== undefined)
          .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        out = `{${keys.map((k) => `${JSON.stringify(k)}:${write(value[k], `${path}.${k}`, parents)}`).join(",")}}`;
      } else {
        fail(path, `a non-plain object (${Object.prototype.toString.call(value)})`);
      }
      parents.delete(value);
      return out;
    }
    default:
      return fail(path, `unsupported value of type ${typeof value}`);
  }
}

/**
 * Serialises `value` canonically. Object properties whose value is undefined are left out (as
 * in JSON.stringify); undefined in an array, non-finite numbers, bigints, functions, symbols,
 * non-plain objects and cycles throw `internal`.
 */
export function canonicalJson(value: unknown): string {
  return write(value, "", new Set());
}
