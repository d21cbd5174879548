/**
 * Script normalisation before keying: formatting that cannot change what a script does is
 * removed, so re-indenting YAML or an editor's trailing spaces keep the cache.
 */

/** CRLF → LF, trailing spaces/tabs stripped per line, leading and trailing blank lines removed. */
export function normaliseScript(script: string): string {
  const lines = script
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((l) => l.replace(/[ \t]+$/, ""));
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start] === "") start++;
  while (end > start && lines[end - 1] === "") end--;
  return lines.slice(start, end).join("\n");
}
