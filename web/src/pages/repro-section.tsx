/**
 * A stage's reproducibility check (`--repro`, docs/diff.md): a verdict badge, the two builds,
 * and per output the per-package table of what differs.
 */
import type { Repro } from "../api/types";
import { shortDigest } from "../format";

const BADGE: Record<Repro["state"], { cls: string; label: string }> = {
  building: { cls: "state-running", label: "second build running" },
  reproducible: { cls: "ok", label: "reproducible" },
  differs: { cls: "state-failed", label: "not reproducible" },
  error: { cls: "warn", label: "no verdict" },
};

export function ReproSection(props: { repro: Repro }) {
  const r = props.repro;
  const b = BADGE[r.state];
  return (
    <div data-testid="repro">
      <h3>
        Reproducibility{" "}
        <span class={`badge ${b.cls}`} data-testid="repro-verdict">
          {b.label}
        </span>
      </h3>
      <p class="muted">
        first: {r.first} · second: {r.second}
      </p>
      {r.reason === "" ? null : <p class="reason">Queued: {r.reason}</p>}
      {r.error === "" ? null : <pre class="error-box">{r.error}</pre>}
      {r.outputs.map((o) => (
        <div key={o.name}>
          <p>
            <b>{o.name}</b> <code title={o.digestA}>{shortDigest(o.digestA)}</code>
            {o.identical ? (
              " identical"
            ) : (
              <>
                {" "}
                → <code title={o.digestB}>{shortDigest(o.digestB)}</code>: {o.summary}
              </>
            )}
          </p>
          {o.packages.length === 0 ? null : (
            <table class="grid" data-testid="repro-packages">
              <thead>
                <tr>
                  <th>package</th>
                  <th>differ</th>
                  <th>only first</th>
                  <th>only second</th>
                  <th>what</th>
                  <th>paths</th>
                </tr>
              </thead>
              <tbody>
                {o.packages.map((p, i) => (
                  <tr key={i}>
                    <td>{p.name}</td>
                    <td>{p.differing}</td>
                    <td>{p.onlyA}</td>
                    <td>{p.onlyB}</td>
                    <td>{[...p.what, ...p.vdb.map((v) => `vdb ${v}`)].join(", ")}</td>
                    <td>
                      {p.paths.map((path) => (
                        <div key={path}>
                          <code>{path}</code>
                        </div>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {o.morePackages > 0 ? <p class="muted">… {o.morePackages} more packages</p> : null}
        </div>
      ))}
    </div>
  );
}
