/**
 * `latest-<name>.txt`, the pointer file of Gentoo's mirrors
 * (https://distfiles.gentoo.org/releases/amd64/autobuilds/latest-stage3-amd64-openrc.txt; it is
 * written by Gentoo's mirror scripts, not by releng's tools/ at gentoo/releng 2542ea88): a header
 * with the time it was written and `ts=` (seconds since the epoch), then one
 * `<stamp>/<file> <size>` line per released file:
 *
 *   # Latest as of Sun, 07 Dec 2025 17:03:12 +0000
 *   # ts=1765126992
 *   20251207T170309Z/stage3-amd64-openrc-20251207T170309Z.tar.xz 285012345
 */
export interface LatestEntry {
  stamp: string;
  file: string;
  size: number;
}

/** RFC 2822 date in UTC with a numeric zone, as `date -R -u` prints it. */
function rfc2822(at: Date): string {
  return at.toUTCString().replace(/GMT$/, "+0000");
}

export function latestFileText(at: Date, entries: readonly LatestEntry[]): string {
  const lines = entries.map((e) => `${e.stamp}/${e.file} ${e.size}`);
  return `# Latest as of ${rfc2822(at)}\n# ts=${Math.floor(at.valueOf() / 1000)}\n${lines.join("\n")}\n`;
}
