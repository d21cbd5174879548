/**
 * A small YAML (or JSON) config file as plain data, read with the bounds of ./bounds.ts: the
 * coordinator's auth file and any other config. Problems are `invalid_argument` errors naming
 * the file and line:col; the file's content never appears in them.
 */
import { isScalar, visit, type Document } from "yaml";
import { StagefarmError } from "../errors.js";
import { YAML_BOUNDS, type YamlBounds } from "./bounds.js";
import { readYamlDocument } from "./read.js";

/** The data of `text` (null for an empty document); `what` names it in errors ("auth file x.yaml"). */
export function parseYamlData(text: string, what: string, bounds: YamlBounds = YAML_BOUNDS): unknown {
  const read = readYamlDocument(text, {}, bounds);
  const at = (offset: number): string => {
    const { line, col } = read.lines.linePos(offset);
    return `${what}:${Math.max(line, 1)}:${Math.max(col, 1)}`;
  };
  if (read.t === "refused")
    throw new StagefarmError("invalid_argument", `${at(read.problem.offset)}: ${read.problem.message}`);
  const first = read.doc.errors[0];
  if (first !== undefined)
    throw new StagefarmError("invalid_argument", `${at(first.pos[0])}: not valid YAML (${first.code})`);
  const dup = duplicateKeyOffset(read.doc);
  if (dup !== undefined)
    throw new StagefarmError("invalid_argument", `${at(dup)}: a key appears twice in one mapping`);
  try {
    // maxAliasCount bounds alias expansion, merge keys included (yaml counts both).
    return read.doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err: unknown) {
    throw new StagefarmError("invalid_argument", `${what}: ${StagefarmError.from(err).message}`, {
      cause: err,
    });
  }
}

/** Offset of the first key repeated in its mapping (a set per mapping: linear, unlike yaml's). */
function duplicateKeyOffset(doc: Document.Parsed): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key: unknown = isScalar(pair.key) ? pair.key.value : pair.key;
        if (seen.has(key)) {
          found = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
          return visit.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  return found;
}
