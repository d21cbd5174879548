/**
 * The distributed coordinator's {@link Launch}: a schedule's pipeline is read from the server's
 * `--pipelines DIR` by name and submitted like a client's pipeline text.
 */
import type { Coordinator } from "../service/coordinator.js";
import type { NamedPipelines } from "../submission/named-pipelines.js";
import type { Launch } from "./scheduler.js";

export function submitLauncher(
  coordinator: Pick<Coordinator, "submit" | "settled">,
  pipelines: Pick<NamedPipelines, "read">,
): Launch {
  return async ({ runId, pipeline, params }) => {
    const p = await pipelines.read(pipeline);
    const doc = await coordinator.submit({ yaml: p.yaml, path: p.path, params, runId });
    return { done: coordinator.settled(doc.id) };
  };
}
