/**
 * SubmitRun, written once for every transport (the gRPC API, the dashboard's
 * `POST /api/dashboard/runs`, `stagefarm up`'s `POST /api/v1/runs`): the pipeline's text, or the
 * name of a pipeline the server offers (`pipeline_name`, ../submission/named-pipelines.ts),
 * params, and the `--repro` stages. The server reads no path a caller names: `pipeline_path` is
 * only a label for messages.
 */
import { create } from "@bufbuild/protobuf";
import { RunSchema, type Run } from "../../proto/gen/stagefarm/v1/run_pb.js";
import type { StagefarmService } from "../../proto/gen/stagefarm/v1/service_pb.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ServiceImpl } from "../../shared/grpc/index.js";
import { namedSubmission, type NamedPipelines } from "../submission/named-pipelines.js";
import type { ReproSubmission } from "../repro/repro-request.js";

/** A run to start: the pipeline's text, its label, params and `--repro`. */
export interface SubmitRequest {
  yaml: string;
  path: string;
  params: Record<string, string>;
  /** `--repro`: stages to build twice and compare (../repro/). */
  repro?: ReproSubmission;
}

export interface SubmitApiDeps {
  /** Starts a run; resolves with its id once the coordinator took it. */
  submit: (req: SubmitRequest) => Promise<string>;
  /** Pipelines offered by name (absent: `pipeline_name` is refused). */
  namedPipelines?: NamedPipelines | undefined;
  /** False while the server drains: submissions are refused. */
  accepting?: (() => boolean) | undefined;
  /** The run as the answer shows it (undefined: the answer carries its id only). */
  runOf: (id: string) => Promise<Run | undefined>;
}

export function createSubmitApi(
  deps: SubmitApiDeps,
): Pick<ServiceImpl<typeof StagefarmService>, "submitRun"> {
  return {
    async submitRun(req) {
      if (deps.accepting?.() === false)
        throw new StagefarmError("unavailable", "draining: not accepting runs");
      const params = { ...req.params };
      const repro: { repro?: ReproSubmission } =
        req.reproStages.length === 0 && !req.reproStrict
          ? {}
          : { repro: { stages: req.reproStages, strict: req.reproStrict } };
      let run: SubmitRequest;
      if (req.pipelineName !== "") {
        if (req.pipelineYaml !== "" || req.pipelinePath !== "")
          throw new StagefarmError(
            "invalid_argument",
            '"pipelineName" comes without "pipelineYaml" and "pipelinePath"',
          );
        run = { ...(await namedSubmission(deps.namedPipelines, req.pipelineName, params)), ...repro };
      } else {
        if (req.pipelineYaml.trim() === "")
          throw new StagefarmError("invalid_argument", "pipeline_yaml (the pipeline's text) is required");
        run = {
          yaml: req.pipelineYaml,
          path: req.pipelinePath === "" ? "pipeline.yaml" : req.pipelinePath,
          params,
          ...repro,
        };
      }
      const id = await deps.submit(run);
      return { run: (await deps.runOf(id)) ?? create(RunSchema, { id }) };
    },
  };
}
