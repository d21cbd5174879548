/**
 * The display name of a submitted pipeline (`pipelinePath` of a submission). A client never
 * names a server-side file: the pipeline travels as text, and this name is only a label in
 * messages (`demo/pipeline.yaml:3:5: error: …`) and the default pipeline name (its directory).
 * It is made harmless rather than refused, so a CLI that sends the path it read stays valid:
 * a relative path of safe characters, no `.` or `..` segments, at most {@link MAX_LABEL} long.
 */

export const MAX_LABEL = 200;
export const DEFAULT_LABEL = "pipeline.yaml";

export function pipelineLabel(raw: string): string {
  const segments = raw
    .replace(/\\/g, "/")
    .split("/")
    .map((s) => s.replace(/[^A-Za-z0-9._+@-]/g, "_"))
    .filter((s) => s !== "" && !/^\.+$/.test(s));
  let label = segments.join("/");
  // Keep the end (the file and its directory name) when cutting.
  if (label.length > MAX_LABEL) label = label.slice(label.length - MAX_LABEL).replace(/^[^/]*\//, "");
  return label === "" ? DEFAULT_LABEL : label;
}
