/**
 * Small submissions that cost a YAML parser dearly, for the tests of parsing off the event
 * loop: an alias bomb (580 bytes whose runner data expands to 9^9 strings) and a document of
 * many top-level keys (which the parser's duplicate-key check compares pairwise).
 */

/** A stage's `with:` holding nine levels of nine aliases each: 9^9 leaves when expanded. */
export function aliasBomb(levels = 9): string {
  const lines = ["stages:", "  s:", "    runner: shell", "    script: echo", "    with:"];
  lines.push("      a0: &a0 [x, x, x, x, x, x, x, x, x]");
  for (let i = 1; i < levels; i++)
    lines.push(
      `      a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(", ")}]`,
    );
  return `${lines.join("\n")}\n`;
}

/** `n` distinct top-level keys after a valid-looking start (40k keys: about 400 KB). */
export function manyKeys(n = 40_000): string {
  return `stages: {}\n${Array.from({ length: n }, (_, i) => `k${i}: 1`).join("\n")}\n`;
}
