/**
 * The lint checks of the module surfaces (scripts/lint/): the `stagefarm/public-surface` ESLint
 * rule and the import-cycle check, run on small trees made here.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Linter, type Rule } from "eslint";
import tseslint from "typescript-eslint";

const SCRIPTS = fileURLToPath(new URL("../../../scripts/lint/", import.meta.url));

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

async function loadRule(): Promise<Rule.RuleModule> {
  const mod: unknown = await import(pathToFileURL(join(SCRIPTS, "public-surface.mjs")).href);
  if (!isRecord(mod) || !isRecord(mod.publicSurface) || typeof mod.publicSurface.create !== "function") {
    throw new Error("public-surface.mjs does not export the rule publicSurface");
  }
  const rule: Rule.RuleModule = { create: mod.publicSurface.create as Rule.RuleModule["create"] };
  return { ...mod.publicSurface, ...rule };
}

type CycleModule = {
  importGraph: (root: string) => Map<string, string[]>;
  cycles: (graph: Map<string, string[]>) => string[][];
};

function isCycleModule(mod: unknown): mod is CycleModule {
  return isRecord(mod) && typeof mod.importGraph === "function" && typeof mod.cycles === "function";
}

async function loadCycles(): Promise<CycleModule> {
  const mod: unknown = await import(pathToFileURL(join(SCRIPTS, "check-cycles.mjs")).href);
  if (!isCycleModule(mod)) throw new Error("check-cycles.mjs does not export importGraph and cycles");
  return mod;
}

/** A temporary tree: `files` maps a relative path to its text. */
async function tree(files: Record<string, string>): Promise<AsyncDisposable & { root: string }> {
  const root = await mkdtemp(join(tmpdir(), "sf-import-rules-"));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return { root, [Symbol.asyncDispose]: () => rm(root, { recursive: true, force: true }) };
}

const MODULES = {
  "package.json": "{}",
  "shared/store/index.ts": 'export { lockFile } from "./fs-lock.js";\n',
  "shared/store/fs-lock.ts": "export const lockFile = 1;\n",
  "shared/store/testing.ts": 'export { lockFile as raw } from "./fs-lock.js";\n',
  "shared/store/sub/index.ts": "export const sub = 1;\n",
  "shared/store/sub/deep.ts": "export const deep = 1;\n",
  "shared/pipeline/suggest.ts": "export const s = 1;\n",
};

describe("stagefarm/public-surface", () => {
  async function problems(
    root: string,
    file: string,
    code: string,
    allow: unknown[] = [],
  ): Promise<string[]> {
    const rule = await loadRule();
    const linter = new Linter({ configType: "flat", cwd: root });
    const messages = linter.verify(
      code,
      [
        {
          files: ["**/*.ts"],
          languageOptions: { parser: tseslint.parser },
          plugins: { stagefarm: { rules: { "public-surface": rule } } },
          rules: { "stagefarm/public-surface": ["error", { allow }] },
        },
      ],
      { filename: join(root, file) },
    );
    return messages.map((m) => m.message);
  }

  test("outside a module, only its index.ts may be imported", async () => {
    await using t = await tree(MODULES);
    assert.deepEqual(
      await problems(t.root, "cli/a.ts", 'import { lockFile } from "../shared/store/index.js";'),
      [],
    );
    assert.deepEqual(await problems(t.root, "cli/a.ts", 'import { lockFile } from "../shared/store";'), []);
    const deep = await problems(t.root, "cli/a.ts", 'import { lockFile } from "../shared/store/fs-lock.js";');
    assert.equal(deep.length, 1);
    assert.match(
      deep[0] ?? "",
      /reaches inside shared\/store\/: import it through shared\/store\/index\.ts$/,
    );
    // The same file named from another depth, re-exported, and loaded lazily.
    for (const code of [
      'import type { X } from "../../shared/store/fs-lock.js";',
      'export { lockFile } from "../../shared/store/fs-lock.js";',
      'export * from "../../shared/store/fs-lock.js";',
      'const m = await import("../../shared/store/fs-lock.js");',
    ]) {
      assert.equal((await problems(t.root, "cli/commands/b.ts", code)).length, 1, code);
    }
  });

  test("a nested module is imported through its own index, also from its parent", async () => {
    await using t = await tree(MODULES);
    assert.deepEqual(
      await problems(t.root, "cli/a.ts", 'import { sub } from "../shared/store/sub/index.js";'),
      [],
    );
    const fromParent = await problems(t.root, "shared/store/x.ts", 'import { deep } from "./sub/deep.js";');
    assert.match(fromParent[0] ?? "", /inside shared\/store\/sub\//);
    assert.deepEqual(
      await problems(t.root, "shared/store/sub/y.ts", 'import { deep } from "./deep.js";'),
      [],
    );
    assert.deepEqual(
      await problems(t.root, "shared/store/x.ts", 'import { lockFile } from "./fs-lock.js";'),
      [],
    );
  });

  test("testing.ts is for test/ and bench/ only", async () => {
    await using t = await tree(MODULES);
    const testing = 'import { raw } from "../../shared/store/testing.js";';
    assert.deepEqual(await problems(t.root, "test/unit/a.test.ts", testing), []);
    assert.deepEqual(await problems(t.root, "bench/b/c.ts", testing), []);
    const fromCli = await problems(t.root, "cli/commands/a.ts", testing);
    assert.match(fromCli[0] ?? "", /shared\/store\/testing\.ts, the test-only surface/);
    assert.equal(
      (await problems(t.root, "shared/store/x.ts", 'import { raw } from "./testing.js";')).length,
      1,
    );
    // Tests get no deep imports either, and are told of testing.ts.
    const deep = await problems(
      t.root,
      "test/unit/a.test.ts",
      'import { lockFile } from "../../shared/store/fs-lock.js";',
    );
    assert.match(deep[0] ?? "", /index\.ts or shared\/store\/testing\.ts$/);
  });

  test("an allowed deep import is allowed from the folders named, not from others", async () => {
    await using t = await tree({ ...MODULES, "shared/pipeline/index.ts": "export {};\n" });
    const allow = [{ from: ["shared/catalyst"], files: ["shared/pipeline/suggest.ts"] }];
    const code = 'import { s } from "../pipeline/suggest.js";';
    assert.deepEqual(await problems(t.root, "shared/catalyst/a.ts", code, allow), []);
    assert.equal((await problems(t.root, "shared/catalyst/a.ts", code)).length, 1);
    assert.equal((await problems(t.root, "shared/binpkg/a.ts", code, allow)).length, 1);
  });
});

describe("check-cycles", () => {
  const TSCONFIG = JSON.stringify({
    compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true },
    include: ["src"],
  });

  test("finds a run-time cycle and names every file on it", async () => {
    await using t = await tree({
      "tsconfig.json": TSCONFIG,
      "src/a.ts": 'import { b } from "./b.js";\nexport const a = () => b;\n',
      "src/b.ts": 'import { c } from "./c.js";\nexport const b = c;\n',
      "src/c.ts": 'export { a } from "./a.js";\nexport const c = 1;\n',
      "src/d.ts": 'import { a } from "./a.js";\nexport const d = a;\n',
    });
    const { importGraph, cycles } = await loadCycles();
    assert.deepEqual(cycles(importGraph(t.root)), [["src/a.ts", "src/b.ts", "src/c.ts"]]);
  });

  test("erased type imports and lazy import() close no cycle", async () => {
    await using t = await tree({
      "tsconfig.json": TSCONFIG,
      "src/a.ts": 'import { b } from "./b.js";\nexport type A = number;\nexport const a = b;\n',
      "src/b.ts": 'import type { A } from "./a.js";\nexport const b: A = 1;\n',
      "src/c.ts":
        'import { type A } from "./a.js";\nexport type { A as C } from "./a.js";\nexport const c: A = 2;\n',
      "src/e.ts": 'import { a } from "./a.js";\nexport const e = a;\n',
      "src/f.ts":
        'import { e } from "./e.js";\nexport const f = async () => (await import("./e.js")).e + e;\n',
    });
    const { importGraph, cycles } = await loadCycles();
    const graph = importGraph(t.root);
    assert.deepEqual(graph.get("src/b.ts"), []);
    assert.deepEqual(graph.get("src/c.ts"), []);
    assert.deepEqual(graph.get("src/f.ts"), ["src/e.ts"]);
    assert.deepEqual(cycles(graph), []);
  });
});
