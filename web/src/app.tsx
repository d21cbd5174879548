/** The dashboard's frame: navigation and the page the hash route names (./router.ts). */
import { AgentsPage } from "./pages/agents-page";
import { CachePage } from "./pages/cache-page";
import { RunPage } from "./pages/run-page";
import { RunsPage } from "./pages/runs-page";
import { useRoute } from "./router";

export function App() {
  const route = useRoute();
  const tab = route.page === "run" ? "runs" : route.page;
  return (
    <>
      <nav class="top">
        <a class="brand" href="#/runs">
          stagefarm
        </a>
        <a href="#/runs" class={tab === "runs" ? "on" : ""}>
          Runs
        </a>
        <a href="#/agents" class={tab === "agents" ? "on" : ""}>
          Agents
        </a>
        <a href="#/cache" class={tab === "cache" ? "on" : ""}>
          Cache
        </a>
      </nav>
      <main>
        {route.page === "runs" ? (
          <RunsPage status={route.status} pipeline={route.pipeline} />
        ) : route.page === "run" ? (
          <RunPage key={route.id} id={route.id} stage={route.stage} />
        ) : route.page === "agents" ? (
          <AgentsPage />
        ) : (
          <CachePage />
        )}
      </main>
    </>
  );
}
