/** The dashboard's frame: navigation, who the page acts as, and the page the hash route names (./router.ts). */
import { useCaller } from "./api/whoami";
import { AgentsPage } from "./pages/agents-page";
import { CachePage } from "./pages/cache-page";
import { RunPage } from "./pages/run-page";
import { RunsPage } from "./pages/runs-page";
import { CallerBadge, SignIn } from "./pages/sign-in";
import { useRoute } from "./router";

export function App() {
  const route = useRoute();
  const caller = useCaller();
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
        <span class="spacer" />
        {typeof caller === "object" ? <CallerBadge who={caller} /> : null}
      </nav>
      <main>
        {caller === undefined ? null : caller === "sign-in" ? (
          <SignIn />
        ) : route.page === "sign-in" ? (
          <SignIn reason="Sign in for more than this page's access." />
        ) : route.page === "runs" ? (
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
