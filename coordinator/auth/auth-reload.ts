/**
 * Re-reading the auth file while serving (SIGHUP: `systemctl reload`, `rc-service … reload`):
 * the file is read and checked like at start (mode, schema); when it is good its tokens replace
 * the ones in force, else the previous ones stay and the error is returned to be logged.
 * Reloads run one at a time; a signal arriving during one runs another after it.
 */
import { StagefarmError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import { loadAuthConfig } from "./auth-config.js";
import type { Authenticator } from "./authenticator.js";

export interface AuthReloader {
  /** Reads the file and puts it in force; resolves false (logged) when it was refused. */
  reload(): Promise<boolean>;
}

export function authReloader(auth: Authenticator, file: string, logger: Logger): AuthReloader {
  let chain: Promise<boolean> = Promise.resolve(true);
  const once = async (): Promise<boolean> => {
    try {
      const config = await loadAuthConfig(file);
      auth.reload(config);
      logger.info({ file, tokens: config.tokens.length }, "auth file reloaded");
      return true;
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      logger.error({ file, err: e }, "auth file refused; the previous one stays in force");
      return false;
    }
  };
  return {
    reload() {
      chain = chain.then(once, once);
      return chain;
    },
  };
}
