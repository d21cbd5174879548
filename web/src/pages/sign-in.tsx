/**
 * Signing in to a farm that checks tokens: the token (`stagefarm certs token` makes one) is sent
 * once to `POST session`, which sets it as an HttpOnly cookie; the page then reloads with it.
 * Signing out clears the cookie.
 */
import { useState } from "preact/hooks";
import { apiUrl, errorText, postJson } from "../api/client";
import { signedIn, type Whoami } from "../api/whoami";

export function SignIn(props: { reason?: string }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = (e: Event): void => {
    e.preventDefault();
    setBusy(true);
    setError("");
    postJson(apiUrl("session"), { token: token.trim() })
      .then(() => location.reload())
      .catch((err: unknown) => setError(errorText(err)))
      .finally(() => setBusy(false));
  };
  return (
    <div class="page sign-in">
      <h1>Sign in</h1>
      <p class="muted">
        {props.reason ?? "This farm checks tokens."} Paste a token of this farm (an operator makes one with{" "}
        <code>stagefarm certs token</code>); it is kept in a cookie of this site only.
      </p>
      <form onSubmit={submit}>
        <input
          type="password"
          autocomplete="off"
          placeholder="sft_…"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          data-testid="token"
        />{" "}
        <button type="submit" class="action" disabled={busy || token.trim() === ""} data-testid="sign-in">
          sign in
        </button>
      </form>
      {error === "" ? null : <pre class="error-box">{error}</pre>}
    </div>
  );
}

/** Who the page acts as, in the navigation bar, with sign in or sign out. */
export function CallerBadge(props: { who: Whoami }) {
  const { who } = props;
  const signOut = (): void => {
    // Reloaded either way: a page whose server is gone shows that on reload.
    void fetch(apiUrl("session"), { method: "DELETE", headers: { "content-type": "application/json" } })
      .catch(() => undefined)
      .then(() => location.reload());
  };
  if (who.name === "anyone") return null;
  return (
    <span class="caller" data-testid="caller">
      {who.name} · {who.role}{" "}
      {signedIn(who) ? (
        <button type="button" class="link" onClick={signOut} data-testid="sign-out">
          sign out
        </button>
      ) : (
        <a href="#/sign-in">sign in</a>
      )}
    </span>
  );
}
