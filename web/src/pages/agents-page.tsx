/**
 * The agents: labels, slots in use, the stages they run, last heartbeat, disk free; kept
 * current by the global event stream. Draining (no new stages; running ones finish) asks for
 * confirmation and needs the admin role (other roles see the button disabled, with why).
 */
import { useEffect, useState } from "preact/hooks";
import { apiUrl, errorText, getJson, postJson } from "../api/client";
import { LiveStream, type LiveStatus } from "../api/live";
import { agentOf, type Agent, type AgentJson } from "../api/types";
import { permits, useWhoami } from "../api/whoami";
import { ConnPill } from "../components/progress";
import { fmtAgo } from "../format";
import { humanBytes } from "../../../shared/util/bytes";
import { runHref } from "../router";

function DrainButton(props: { agent: Agent; onDone: (a: Agent) => void; onError: (e: string) => void }) {
  const [confirming, setConfirming] = useState(false);
  const may = permits(useWhoami(), "admin");
  const { agent } = props;
  if (agent.state === "draining" || agent.state === "offline") return null;
  const drain = (): void => {
    postJson<{ agent?: AgentJson }>(apiUrl(`agents/${encodeURIComponent(agent.id)}/drain`))
      .then((r) => {
        if (r.agent !== undefined) props.onDone(agentOf(r.agent));
      })
      .catch((err: unknown) => props.onError(errorText(err)))
      .finally(() => setConfirming(false));
  };
  return confirming ? (
    <>
      <button type="button" class="danger" onClick={drain} data-testid="confirm-drain">
        really drain
      </button>
      <button type="button" onClick={() => setConfirming(false)}>
        no
      </button>
    </>
  ) : (
    <button
      type="button"
      onClick={() => setConfirming(true)}
      disabled={!may.ok}
      title={may.why}
      data-testid="drain"
    >
      drain
    </button>
  );
}

export function AgentsPage() {
  const [agents, setAgents] = useState<Agent[] | undefined>(undefined);
  const [conn, setConn] = useState<LiveStatus | undefined>(undefined);
  const [error, setError] = useState("");
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const set = (d: unknown): void => setAgents(((d as { agents?: AgentJson[] }).agents ?? []).map(agentOf));
    getJson(apiUrl("agents")).then(set, (err: unknown) => setError(errorText(err)));
    const stream = new LiveStream(apiUrl("events"), { agents: set }, setConn);
    const t = window.setInterval(() => setNow(Date.now()), 1000);
    return () => {
      stream.close();
      window.clearInterval(t);
    };
  }, []);
  const replace = (a: Agent): void => setAgents((prev) => prev?.map((x) => (x.id === a.id ? a : x)));
  return (
    <div class="page">
      <header class="page-head">
        <h1>Agents</h1>
        <span class="spacer" />
        <ConnPill status={conn} />
      </header>
      {error === "" ? null : <p class="error">{error}</p>}
      {agents === undefined ? (
        <p class="muted">Loading…</p>
      ) : agents.length === 0 ? (
        <p class="muted">No agent has connected yet.</p>
      ) : (
        <table class="grid" data-testid="agents">
          <thead>
            <tr>
              <th>agent</th>
              <th>state</th>
              <th>labels</th>
              <th>slots</th>
              <th>running</th>
              <th>last heartbeat</th>
              <th>disk free</th>
              <th>version</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {agents.map((a) => (
              <tr key={a.id} data-agent={a.id}>
                <td>
                  <strong>{a.id}</strong>
                  <div class="muted">{a.hostname}</div>
                </td>
                <td>
                  <span class={`badge agent-${a.state}`}>{a.state}</span>
                </td>
                <td>
                  {a.labels.map((l) => (
                    <code key={l} class="param">
                      {l}
                    </code>
                  ))}
                </td>
                <td>
                  {a.busySlots}/{a.slots}
                </td>
                <td>
                  {a.currentStages.map((rs) => {
                    const i = rs.indexOf("/");
                    const run = rs.slice(0, i);
                    const stage = rs.slice(i + 1);
                    return (
                      <div key={rs}>
                        <a href={runHref(run, stage)}>{stage}</a> <span class="muted">{run}</span>
                      </div>
                    );
                  })}
                </td>
                <td title={a.lastHeartbeat === undefined ? "" : new Date(a.lastHeartbeat).toLocaleString()}>
                  {fmtAgo(a.lastHeartbeat, now)}
                </td>
                <td>{a.diskFreeBytes > 0 ? humanBytes(a.diskFreeBytes) : "–"}</td>
                <td>{a.version}</td>
                <td>
                  <DrainButton agent={a} onDone={replace} onError={setError} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
