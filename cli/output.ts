/** Terminal output helpers: colour only on a TTY (and never with NO_COLOR), emerge-style markers. */
export interface Style {
  green: (s: string) => string;
  red: (s: string) => string;
  yellow: (s: string) => string;
  cyan: (s: string) => string;
  bold: (s: string) => string;
  dim: (s: string) => string;
}

export function makeStyle(enabled: boolean): Style {
  const wrap = (code: string) => (s: string) => (enabled ? `\x1b[${code}m${s}\x1b[0m` : s);
  return {
    green: wrap("32"),
    red: wrap("31"),
    yellow: wrap("33"),
    cyan: wrap("36"),
    bold: wrap("1"),
    dim: wrap("2"),
  };
}

export function shortDigest(d: string): string {
  return d.slice(0, 12);
}
