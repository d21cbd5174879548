// @ts-check
/**
 * Fails when the static imports of the TypeScript sources form a cycle: every `import` and
 * `export … from` that survives compilation counts (type-only ones are erased and cannot change
 * the order modules run in); `import()` does not (commands load their modules lazily, after
 * every static import has run).
 * Resolution is the compiler's, from tsconfig.json. Usage: node scripts/lint/check-cycles.mjs [ROOT]
 */
import { readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import ts from "typescript";

/**
 * An import or re-export the compiler erases: `import type`, `export type`, or one naming only
 * `type` specifiers. It cannot change the order in which modules run.
 * @param {ts.ImportDeclaration | ts.ExportDeclaration} st
 */
function erased(st) {
  if (ts.isImportDeclaration(st)) {
    const c = st.importClause;
    if (c === undefined) return false;
    if (c.isTypeOnly) return true;
    return (
      c.name === undefined &&
      c.namedBindings !== undefined &&
      ts.isNamedImports(c.namedBindings) &&
      c.namedBindings.elements.length > 0 &&
      c.namedBindings.elements.every((e) => e.isTypeOnly)
    );
  }
  if (st.isTypeOnly) return true;
  const x = st.exportClause;
  return (
    x !== undefined && ts.isNamedExports(x) && x.elements.length > 0 && x.elements.every((e) => e.isTypeOnly)
  );
}

/** @param {string} root @returns {Map<string, string[]>} file → files it imports at run time (relative to root) */
export function importGraph(root) {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(root, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!parsed) throw new Error(`cannot read ${join(root, "tsconfig.json")}`);
  const host = ts.createCompilerHost(parsed.options);
  const cache = ts.createModuleResolutionCache(root, (f) => f, parsed.options);
  /** @type {Map<string, string[]>} */
  const graph = new Map();
  for (const file of parsed.fileNames) {
    const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
    const deps = [];
    for (const st of sf.statements) {
      const spec =
        (ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) &&
        st.moduleSpecifier &&
        ts.isStringLiteral(st.moduleSpecifier)
          ? st.moduleSpecifier.text
          : undefined;
      if (spec === undefined || erased(st)) continue;
      const r = ts.resolveModuleName(spec, file, parsed.options, host, cache).resolvedModule;
      if (r && !r.isExternalLibraryImport && !r.resolvedFileName.endsWith(".d.ts"))
        deps.push(relative(root, r.resolvedFileName));
    }
    graph.set(relative(root, file), deps);
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
export function cycles(graph) {
  let next = 0;
  /** @type {Map<string, number>} */ const index = new Map();
  /** @type {Map<string, number>} */ const low = new Map();
  /** @type {string[]} */ const stack = [];
  const onStack = new Set();
  /** @type {string[][]} */ const found = [];
  /** @param {string} v */
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc = [];
    let w;
    do {
      w = stack.pop();
      if (w === undefined) break;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(process.argv[2] ?? ".");
  const graph = importGraph(root);
  const found = cycles(graph);
  for (const c of found) console.error(`import cycle: ${c.join(" → ")}`);
  if (found.length > 0) process.exit(1);
  console.log(`no import cycles among ${graph.size} files`);
}
