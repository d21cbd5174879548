/**
 * `GET /api/dashboard/pipelines`: the pipelines this server offers by name (`up --pipelines
 * DIR`, ../submission/named-pipelines.ts) with their params, for the dashboard's "new run"
 * form. Each file is read by NamedPipelines (size-capped, inside DIR) and parsed by the
 * submission parser (a worker with a heap limit and a deadline), one at a time; a parse is
 * kept while the file's text is unchanged (by its sha256: 200 files of 1 MiB are not kept). A file that does not parse is listed with its
 * error (its `file:line:col` names the file within DIR, never the server's path).
 *
 *   {"offered": true, "pipelines": [{"name": "weekly", "pipeline": "weekly", "description": …,
 *     "params": [{"name": "arch", "required": false, "default": "amd64", "description": …}]},
 *     {"name": "broken", "params": [], "error": "broken.yaml:3:1: error: …"}]}
 *
 * `offered` is false (and the list empty) when the server was started without a directory.
 */
import { createHash } from "node:crypto";
import { StagefarmError } from "../../shared/errors.js";
import type { PipelineSpec } from "../../shared/pipeline/index.js";
import type { NamedPipelines } from "../submission/named-pipelines.js";

export interface PipelineParamJson {
  name: string;
  /** Every run must give it (it has no default). */
  required: boolean;
  default?: string;
  description?: string;
}

export interface OfferedPipelineJson {
  /** What a submission names: `{"pipelineName": name}`. */
  name: string;
  /** The pipeline's own name (`pipeline:`), when it parses. */
  pipeline?: string;
  description?: string;
  params: PipelineParamJson[];
  /** Why the file cannot be run as it is. */
  error?: string;
}

export interface PipelineListJson {
  offered: boolean;
  pipelines: OfferedPipelineJson[];
}

export function paramsOf(spec: PipelineSpec): PipelineParamJson[] {
  return spec.params.map((p) => ({
    name: p.name,
    required: p.default === undefined,
    ...(p.default === undefined ? {} : { default: p.default }),
    ...(p.description === undefined ? {} : { description: p.description }),
  }));
}

export class PipelineList {
  /** The last parse of each name, with the sha256 of the text it was made from. */
  private readonly parsed = new Map<string, { sha256: string; entry: OfferedPipelineJson }>();

  constructor(
    private readonly named: NamedPipelines | undefined,
    private readonly parse: (yaml: string, path: string) => Promise<PipelineSpec>,
  ) {}

  async get(): Promise<PipelineListJson> {
    if (this.named === undefined) return { offered: false, pipelines: [] };
    const names = await this.named.names();
    for (const gone of [...this.parsed.keys()].filter((n) => !names.includes(n))) this.parsed.delete(gone);
    const pipelines: OfferedPipelineJson[] = [];
    for (const name of names) {
      const entry = await this.entry(this.named, name);
      if (entry !== undefined) pipelines.push(entry);
    }
    return { offered: true, pipelines };
  }

  /** The listing of `name`; undefined when there is nothing by that name (an empty directory). */
  private async entry(named: NamedPipelines, name: string): Promise<OfferedPipelineJson | undefined> {
    let doc;
    try {
      doc = await named.read(name);
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      if (e.code === "not_found") return undefined;
      return { name, params: [], error: e.message };
    }
    const sha256 = createHash("sha256").update(doc.yaml).digest("hex");
    const kept = this.parsed.get(name);
    if (kept !== undefined && kept.sha256 === sha256) return kept.entry;
    let entry: OfferedPipelineJson;
    try {
      const spec = await this.parse(doc.yaml, doc.path);
      entry = {
        name,
        pipeline: spec.name,
        ...(spec.description === undefined ? {} : { description: spec.description }),
        params: paramsOf(spec),
      };
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      // Busy or shutting down is not the file's fault: said once, not remembered.
      if (e.code === "unavailable") return { name, params: [], error: e.message };
      entry = { name, params: [], error: e.message };
    }
    this.parsed.set(name, { sha256, entry });
    return entry;
  }
}
