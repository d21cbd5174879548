/**
 * Bounded, escaped excerpts of untrusted text for error messages and logs: a caller-supplied
 * id, a line of a file, a URL. Control characters (NUL, ESC, newlines), bidirectional
 * overrides and other invisible format characters are shown as `\u{…}` escapes so a message
 * cannot rewrite a terminal or hide text; anything longer than `max` code points is cut with
 * "…(N more)".
 */

// C0/C1 controls, DEL, and Unicode format characters (bidi overrides and isolates, zero-width
// joiners, BOM), line and paragraph separators.
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/u;

function escapeChar(ch: string): string {
  switch (ch) {
    case "\n":
      return "\\n";
    case "\r":
      return "\\r";
    case "\t":
      return "\\t";
    default:
      return `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`;
  }
}

/** `text` with unsafe characters escaped and at most `max` code points kept (default 120). */
export function excerpt(text: string, max = 120): string {
  const chars = Array.from(text);
  const kept = chars.length > max ? chars.slice(0, max) : chars;
  const out = kept.map((ch) => (UNSAFE.test(ch) ? escapeChar(ch) : ch)).join("");
  return chars.length > max ? `${out}…(${chars.length - max} more)` : out;
}

/** {@link excerpt} in double quotes, for naming a value inside a sentence. */
export function quoted(text: string, max = 120): string {
  return `"${excerpt(text, max)}"`;
}
