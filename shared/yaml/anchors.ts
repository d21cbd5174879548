/**
 * What each alias of a document names, found in one walk (yaml's own `Alias.resolve` walks the
 * whole document on every call, which makes a document of many aliases quadratic to read).
 */
import { isAlias, isNode, visit, type Alias, type Document, type ParsedNode } from "yaml";

/**
 * The node each alias of `doc` names: the closest anchor of that name before it, in document
 * order (an alias to an anchor not yet seen is left out). The walk recurses once per nesting
 * level: read the document with bounds first (./read.ts).
 */
export function anchorTargets(doc: Document.Parsed): Map<Alias, ParsedNode> {
  const latest = new Map<string, ParsedNode>();
  const out = new Map<Alias, ParsedNode>();
  visit(doc, (_key, node) => {
    if (isAlias(node)) {
      const target = latest.get(node.source);
      if (target !== undefined) out.set(node, target);
    } else if (isNode(node) && node.anchor !== undefined && node.range !== undefined && node.range !== null)
      latest.set(node.anchor, node as ParsedNode);
  });
  return out;
}
