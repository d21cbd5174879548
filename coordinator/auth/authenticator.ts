/**
 * Who a credential is, and whether they may do something: the one decision behind the gRPC
 * interceptor and the HTTP middleware. Without an auth file (`open`), every caller is an
 * admin; that is only allowed where nobody else can connect (see exposure.ts).
 *
 * A token is found by comparing its sha256 with every stored one in constant time; failures say
 * what is wrong (no token, malformed, unknown, expired) without echoing the token.
 */
import { StagefarmError } from "../../shared/errors.js";
import { AuthError, type Principal } from "../../shared/grpc/index.js";
import type { AuthConfig, TokenEntry } from "./auth-config.js";
import { roleAllows, type Role } from "./roles.js";
import { sameDigest, sha256Hex, type Credential } from "./tokens.js";

const NO_TOKEN = "this coordinator needs a token: pass --token or set STAGEFARM_TOKEN";

export class Authenticator {
  private constructor(
    private config: AuthConfig | undefined,
    private readonly now: () => number,
  ) {}

  /** Everyone is an admin (no auth file: loopback or --insecure). */
  static open(): Authenticator {
    return new Authenticator(undefined, Date.now);
  }

  static fromConfig(config: AuthConfig, opts: { now?: () => number } = {}): Authenticator {
    return new Authenticator(config, opts.now ?? Date.now);
  }

  /**
   * Puts `config` in force from the next call on (the auth file re-read on SIGHUP: a token
   * removed from it is refused at once). An open authenticator stays open: reloading cannot
   * turn the checks on or off, only change them.
   */
  reload(config: AuthConfig): void {
    if (this.config === undefined)
      throw new StagefarmError(
        "invalid_argument",
        "this coordinator runs without --auth: there is no auth file to reload",
      );
    this.config = config;
  }

  /** False in open mode. */
  get enforcing(): boolean {
    return this.config !== undefined;
  }

  /** /metrics without a token (for Prometheus). */
  get openMetrics(): boolean {
    return this.config === undefined || this.config.metrics === "open";
  }

  /** The caller `cred` identifies, or an AuthError (`unauthenticated`). */
  authenticate(cred: Credential): Principal {
    const cfg = this.config;
    if (cfg === undefined) return { name: "anyone", role: "admin" };
    if (cred.t === "malformed") throw new AuthError("unauthenticated", cred.why);
    if (cred.t === "none") {
      if (cfg.anonymous !== undefined) return { name: "anonymous", role: cfg.anonymous };
      throw new AuthError("unauthenticated", NO_TOKEN);
    }
    const entry = this.find(sha256Hex(cred.token), cfg.tokens);
    if (entry === undefined)
      throw new AuthError(
        "unauthenticated",
        "unknown token: not in this coordinator's auth file (revoked, or meant for another farm)",
      );
    if (entry.expires !== undefined && Date.parse(entry.expires) <= this.now())
      throw new AuthError("unauthenticated", `token ${entry.name} expired at ${entry.expires}`, {
        details: { token: entry.name },
      });
    return { name: entry.name, role: entry.role };
  }

  /** Throws an AuthError (`permission_denied`) unless `who` may do `what`, which needs `need`. */
  require(who: Principal, need: Role, what: string): void {
    if (!roleAllows(who.role, need))
      throw new AuthError(
        "permission_denied",
        `${who.name === "anonymous" ? "an anonymous caller" : `token ${who.name}`} has role ${who.role}; ${what} needs ${need}`,
        { details: { token: who.name, role: who.role, needs: need } },
      );
  }

  /** Whether /binhost/ is readable without credentials (no `binhost_auth`). */
  binhostOpen(): boolean {
    return this.config?.binhost_auth === undefined;
  }

  /** Whether HTTP basic credentials match `binhost_auth` (true when there is none). */
  checkBinhostPassword(user: string, password: string): boolean {
    const b = this.config?.binhost_auth;
    if (b === undefined) return true;
    // Both compared, always, in constant time.
    const userOk = sameDigest(sha256Hex(user), sha256Hex(b.user));
    const passwordOk = sameDigest(sha256Hex(password), b.sha256);
    return userOk && passwordOk;
  }

  private find(hash: string, tokens: readonly TokenEntry[]): TokenEntry | undefined {
    let found: TokenEntry | undefined;
    // Every entry is compared: how long this takes says nothing about which one matched.
    for (const t of tokens) if (sameDigest(hash, t.sha256) && found === undefined) found = t;
    return found;
  }
}
