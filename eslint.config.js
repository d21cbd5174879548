// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import stagefarm from "./scripts/lint/public-surface.mjs";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "proto/gen/", "scripts/", "eslint.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            {
              from: "package",
              package: "node:test",
              name: ["test", "it", "describe", "suite", "before", "after", "beforeEach", "afterEach"],
            },
          ],
        },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-non-null-assertion": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/only-throw-error": "error",
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/coordinator/**", "../coordinator/*"],
              message: "agent/ and shared/ must not import coordinator/",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["coordinator/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/agent/**", "../agent/*"], message: "coordinator/ must not import agent/" },
          ],
        },
      ],
    },
  },
  {
    files: ["cli/**/*.ts", "test/**/*.ts", "bench/**/*.ts"],
    rules: { "no-restricted-imports": "off" },
  },
  {
    // A folder with an index.ts is a module: import it through its index (tests: or testing.ts).
    files: ["{shared,coordinator,agent,cli,test,bench}/**/*.ts"],
    plugins: { stagefarm },
    rules: {
      "stagefarm/public-surface": [
        "error",
        {
          allow: [
            {
              // The parser (shared/pipeline) checks `with` through runner-config, which checks
              // Catalyst data through catalyst; both build on these pipeline leaf files (no
              // imports of their own in shared/pipeline). Through pipeline/index.ts they would
              // close an import cycle. They belong in a leaf module of their own.
              from: ["shared/catalyst", "shared/runner-config"],
              files: [
                "shared/pipeline/rules.ts",
                "shared/pipeline/suggest.ts",
                "shared/pipeline/template-context.ts",
                "shared/pipeline/templates.ts",
              ],
            },
            {
              // cli/main.ts loads the registrations only (test/unit/cli-env-help.test.ts): these
              // leaf files give registrations their constants without loading the modules.
              from: ["cli"],
              files: [
                "coordinator/auth/roles.ts",
                "coordinator/auth/tokens.ts",
                "shared/pack/unpack-limits.ts",
              ],
            },
            {
              // The runners parse their own `with`. runner-config/index.ts loads these schema
              // files (and zod) only when a stage of the kind is checked, so that validating a
              // pipeline without such stages loads no zod (test/unit/cli-validate-start.test.ts);
              // re-exported from the index they would load on every parse.
              from: ["agent/runners"],
              files: [
                "shared/runner-config/catalyst.ts",
                "shared/runner-config/chroot.ts",
                "shared/runner-config/emerge.ts",
              ],
            },
            {
              // The runner table gives each kind its template contexts; runner-config/index.ts
              // reads the table, so through the index the two would import each other.
              from: ["shared/runner-kinds.ts"],
              files: ["shared/runner-config/template-contexts.ts"],
            },
          ],
        },
      ],
    },
  },
);
