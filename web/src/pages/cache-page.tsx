/**
 * The action cache and the binhosts: sizes, hit ratios (since this coordinator started, and
 * over every recorded run per pipeline), the newest cache entries and the newest packages.
 */
import { useEffect, useState } from "preact/hooks";
import { apiUrl, errorText, getJson } from "../api/client";
import { time, type CacheEntryJson } from "../api/types";
import { fmtDuration, fmtTime, pct, shortDigest } from "../format";
import type { CacheSummary } from "../../../shared/protocol/cache-summary";
import { humanBytes } from "../../../shared/util/bytes";
import { runHref } from "../router";

type Summary = CacheSummary<CacheEntryJson>;

export function CachePage() {
  const [s, setS] = useState<Summary | undefined>(undefined);
  const [error, setError] = useState("");
  const load = (): void => {
    getJson<Summary>(apiUrl("cache")).then(
      (v) => {
        setS(v);
        setError("");
      },
      (err: unknown) => setError(errorText(err)),
    );
  };
  useEffect(load, []);
  const st = s?.lookups.stage;
  const bp = s?.lookups.binpkg;
  return (
    <div class="page">
      <header class="page-head">
        <h1>Cache and binhosts</h1>
        <span class="spacer" />
        {s === undefined ? null : <span class="muted">as of {fmtTime(time(s.computedAt))}</span>}
        <button type="button" onClick={load}>
          refresh
        </button>
      </header>
      {error === "" ? null : <p class="error">{error}</p>}
      {s === undefined || st === undefined || bp === undefined ? (
        <p class="muted">Loading…</p>
      ) : (
        <>
          <div class="cards" data-testid="cache-cards">
            <div class="card">
              <div class="big">{s.entries}</div>
              <div class="muted">cache entries</div>
            </div>
            <div class="card">
              <div class="big">{humanBytes(s.outputBytes)}</div>
              <div class="muted">outputs they keep</div>
            </div>
            <div class="card">
              <div class="big" data-testid="hit-ratio">
                {pct(st.hits, st.hits + st.misses)}
              </div>
              <div class="muted">
                stage hit ratio since start ({st.hits} hits, {st.misses} misses)
              </div>
            </div>
            <div class="card">
              <div class="big">{pct(bp.hits, bp.hits + bp.misses)}</div>
              <div class="muted">
                binhost package hits since start ({bp.hits} of {bp.hits + bp.misses})
              </div>
            </div>
          </div>
          {s.pipelines.length === 0 ? null : (
            <>
              <h2>Recorded runs per pipeline</h2>
              <table class="grid">
                <thead>
                  <tr>
                    <th>pipeline</th>
                    <th>runs</th>
                    <th>cache hits</th>
                    <th>executions</th>
                    <th>failures</th>
                    <th>hit ratio</th>
                  </tr>
                </thead>
                <tbody>
                  {s.pipelines.map((p) => (
                    <tr key={p.pipeline}>
                      <td>{p.pipeline}</td>
                      <td>{p.runs}</td>
                      <td>{p.hits}</td>
                      <td>{p.executions}</td>
                      <td>{p.failures}</td>
                      <td>{pct(p.hits, p.hits + p.executions + p.failures)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
          <h2>Newest cache entries</h2>
          {s.newest.length === 0 ? (
            <p class="muted">The cache is empty.</p>
          ) : (
            <table class="grid" data-testid="cache-entries">
              <thead>
                <tr>
                  <th>key</th>
                  <th>pipeline</th>
                  <th>stage</th>
                  <th>runner</th>
                  <th>outputs</th>
                  <th>took</th>
                  <th>by</th>
                  <th>created</th>
                </tr>
              </thead>
              <tbody>
                {s.newest.map((e) => (
                  <tr key={e.key}>
                    <td>
                      <code title={e.key}>{shortDigest(e.key ?? "")}</code>
                    </td>
                    <td>{e.pipeline}</td>
                    <td>{e.stage}</td>
                    <td>{e.runner}</td>
                    <td>{humanBytes((e.outputs ?? []).reduce((a, o) => a + Number(o.size ?? "0"), 0))}</td>
                    <td>{fmtDuration(Number(e.durationMs ?? "0"))}</td>
                    <td>{e.producer}</td>
                    <td>{fmtTime(time(e.createdAt))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h2>Binhosts</h2>
          {s.binhosts.length === 0 ? (
            <p class="muted">No binhost has packages yet.</p>
          ) : (
            s.binhosts.map((b) => (
              <section key={b.name} class="binhost">
                <h3>
                  {b.name}{" "}
                  <span class="muted">
                    {b.packages} packages · {humanBytes(b.bytes)} · updated {fmtTime(b.timestamp * 1000)}
                  </span>
                </h3>
                <table class="grid">
                  <thead>
                    <tr>
                      <th>package</th>
                      <th>build</th>
                      <th>size</th>
                      <th>built</th>
                      <th>published by</th>
                    </tr>
                  </thead>
                  <tbody>
                    {b.newest.map((p) => (
                      <tr key={p.path}>
                        <td title={p.path}>{p.cpv}</td>
                        <td>{p.buildId}</td>
                        <td>{humanBytes(p.size)}</td>
                        <td>{fmtTime(p.buildTime * 1000)}</td>
                        <td>
                          {p.run !== undefined && p.stage !== undefined ? (
                            <a href={runHref(p.run, p.stage)}>{p.stage}</a>
                          ) : (
                            "–"
                          )}
                          {p.agent === undefined ? "" : ` on ${p.agent}`}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </section>
            ))
          )}
        </>
      )}
    </div>
  );
}
