/**
 * The display name of a submitted pipeline (`pipelinePath` of a submission). A client never
 * names a server-side file: the pipeline travels as text, and this name is only a label in
 * messages (`demo/pipeline.yaml:3:5: error: …`) and the default pipeline name (its directory).
 * It is made harmless rather than refused, so a CLI that sends the path it read stays valid:
 * a relative path of safe characters, no `.` or `..` segments, at most {@link MAX_LABEL} long.
 * A label always has a directory: a pipeline without a `pipeline:` key is named after it, and a
 * bare file name would otherwise take the name of the server's working directory.
 */

export const MAX_LABEL = 200;
export const DEFAULT_LABEL = "pipeline.yaml";
/** The directory of a label that names none, and so the default pipeline name. */
export const DEFAULT_DIR = "pipeline";

export function pipelineLabel(raw: string): string {
  const segments = raw
    .replace(/\\/g, "/")
    .split("/")
    .map((s) => s.replace(/[^A-Za-z0-9._+@-]/g, "_"))
    .filter((s) => s !== "" && !/^\.+$/.test(s));
  let label = segments.join("/");
  // Keep the end (the file and its directory name) when cutting.
  if (label.length > MAX_LABEL) label = label.slice(label.length - MAX_LABEL).replace(/^[^/]*\//, "");
  if (label === "") return `${DEFAULT_DIR}/${DEFAULT_LABEL}`;
  return label.includes("/") ? label : `${DEFAULT_DIR}/${label}`;
}
