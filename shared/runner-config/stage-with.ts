/**
 * What the `with` parsers read of a stage: its name (for errors), its `with` block and its env.
 * A ResolvedStage is one; declared here so that runner configuration depends on nothing of the
 * pipeline model (which names runner kinds from shared/runner-kinds.ts).
 */
export interface StageWith {
  readonly name: string;
  readonly with: unknown;
  readonly env: Readonly<Record<string, string>>;
}

/** `.releng_edits[0].file`: a zod issue path as written after `with`. */
export function describePath(path: readonly PropertyKey[]): string {
  return path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("");
}
