// @ts-check
/**
 * ESLint rule `stagefarm/public-surface`: a folder with an `index.ts` is a module, and code
 * outside it imports it through that index only. Tests and benchmarks may also import the
 * module's `testing.ts` (the internals tests reach); nothing else may. Relative specifiers are
 * resolved against the importing file, so `../store/fs-lock.js` and
 * `../../shared/store/fs-lock.js` are the same import. Covers static imports, `export … from`
 * and `import()`. Option `allow`: `[{ from: [folders or files], files: [files] }]`, deep imports the
 * config names one by one, each with its reason. See docs/architecture.md, "Public surfaces".
 */
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

/** The folder holding package.json above `dir`: the repository root. */
function rootOf(dir) {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "package.json"))) return d;
    if (dirname(d) === d) return undefined;
  }
}

/** The .ts file an import specifier names (`./x.js` → `x.ts`, a folder → its index.ts). */
function targetFile(from, spec) {
  const p = resolve(dirname(from), spec);
  if (p.endsWith(".js") && existsSync(p.slice(0, -3) + ".ts")) return p.slice(0, -3) + ".ts";
  if (existsSync(join(p, "index.ts"))) return join(p, "index.ts");
  return p;
}

/** The innermost folder with an index.ts that holds `file`, below `root`. */
function moduleOf(file, root) {
  for (let d = dirname(file); d.startsWith(root + sep); d = dirname(d)) {
    if (existsSync(join(d, "index.ts"))) return d;
  }
  return undefined;
}

const inside = (file, dir) => file.startsWith(dir + sep);

/** @type {import("eslint").Rule.RuleModule} */
export const publicSurface = {
  meta: {
    type: "problem",
    docs: { description: "import a module through its index.ts (tests: or its testing.ts)" },
    schema: [
      {
        type: "object",
        properties: {
          allow: {
            type: "array",
            items: {
              type: "object",
              properties: {
                from: { type: "array", items: { type: "string" } },
                files: { type: "array", items: { type: "string" } },
              },
              required: ["from", "files"],
              additionalProperties: false,
            },
          },
        },
        additionalProperties: false,
      },
    ],
    messages: {
      deep: "'{{spec}}' reaches inside {{module}}/: import it through {{module}}/index.ts{{tests}}",
      testing: "'{{spec}}' is {{module}}/testing.ts, the test-only surface: only test/ and bench/ import it",
    },
  },
  create(context) {
    const from = context.filename;
    const root = rootOf(dirname(from));
    if (root === undefined) return {};
    const isTest = ["test", "bench"].some((d) => inside(from, join(root, d)));
    /** @type {{ allow?: Array<{ from: string[], files: string[] }> }} */
    const options = context.options[0] ?? {};
    const allowed = (/** @type {string} */ target) =>
      (options.allow ?? []).some(
        (a) =>
          a.from.some((dir) => from === join(root, dir) || inside(from, join(root, dir))) &&
          a.files.some((f) => join(root, f) === target),
      );
    /** @param {import("estree").Node | null | undefined} source */
    const check = (source) => {
      if (!source || source.type !== "Literal" || typeof source.value !== "string") return;
      const spec = source.value;
      if (!spec.startsWith(".")) return;
      const target = targetFile(from, spec);
      const mod = moduleOf(target, root);
      if (mod === undefined) return;
      const module = relative(root, mod).split(sep).join("/");
      const base = relative(mod, target);
      if (base === "testing.ts") {
        if (!isTest) context.report({ node: source, messageId: "testing", data: { spec, module } });
        return;
      }
      if (base === "index.ts" || inside(from, mod) || allowed(target)) return;
      const tests = isTest ? ` or ${module}/testing.ts` : "";
      context.report({ node: source, messageId: "deep", data: { spec, module, tests } });
    };
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
    };
  },
};

export default { rules: { "public-surface": publicSurface } };
