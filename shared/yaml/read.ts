/**
 * Reading a YAML document with bounds (./bounds.ts): the text is tokenised once into yaml's CST,
 * the CST is checked, and only then composed into a Document — the same steps as yaml's
 * `parseDocument`, with the check in between. Duplicate keys are not checked here (yaml's own
 * check compares every key with every other, quadratic in a mapping's size): readers that care
 * check them with a set as they walk a mapping.
 */
import {
  Composer,
  LineCounter,
  Parser,
  YAMLParseError,
  type CST,
  type Document,
  type DocumentOptions,
  type ParseOptions,
  type SchemaOptions,
} from "yaml";
import { StagefarmError } from "../errors.js";
import { sizeProblem, structureProblem, YAML_BOUNDS, type BoundsProblem, type YamlBounds } from "./bounds.js";

export type ReadYamlOptions = Omit<
  ParseOptions & DocumentOptions & SchemaOptions,
  "lineCounter" | "uniqueKeys" | "prettyErrors"
>;

export type ReadYamlResult =
  | { t: "parsed"; doc: Document.Parsed; lines: LineCounter }
  | { t: "refused"; problem: BoundsProblem; lines: LineCounter };

/** Parses `text` as one YAML document, or refuses it at the first bound it breaks. */
export function readYamlDocument(
  text: string,
  options: ReadYamlOptions = {},
  bounds: YamlBounds = YAML_BOUNDS,
): ReadYamlResult {
  const lines = new LineCounter();
  const tooLarge = sizeProblem(text, bounds);
  if (tooLarge !== undefined) return { t: "refused", problem: tooLarge, lines };
  const tokens: CST.Token[] = Array.from(new Parser(lines.addNewLine).parse(text));
  const problem = structureProblem(tokens, bounds);
  if (problem !== undefined) return { t: "refused", problem, lines };
  const composer = new Composer({ ...options, uniqueKeys: false, prettyErrors: false });
  let doc: Document.Parsed | undefined;
  for (const next of composer.compose(tokens, true, text.length)) {
    if (doc === undefined) doc = next;
    else {
      doc.errors.push(
        new YAMLParseError(
          [next.range[0], next.range[1]],
          "MULTIPLE_DOCS",
          "the text holds more than one YAML document (separated by ---); give one",
        ),
      );
      break;
    }
  }
  // compose(…, forceDoc = true) always yields a document, even for an empty text.
  if (doc === undefined) throw new StagefarmError("internal", "yaml composed no document");
  return { t: "parsed", doc, lines };
}
