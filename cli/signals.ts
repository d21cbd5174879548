/**
 * Two-stage shutdown for long commands: the first SIGINT/SIGTERM asks nicely (cancel or drain),
 * the second forces the exit. The exit status stays 128+signo either way.
 */
import { constants } from "node:os";

export interface ShutdownHandle {
  /** The signal that arrived first, if any. */
  readonly received: NodeJS.Signals | undefined;
  dispose(): void;
}

export function onShutdown(
  first: (sig: NodeJS.Signals) => void,
  second: (sig: NodeJS.Signals) => void,
): ShutdownHandle {
  let received: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (received === undefined) {
      received = sig;
      first(sig);
    } else second(sig);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    get received() {
      return received;
    },
    dispose() {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}

export function exitStatusForSignal(sig: NodeJS.Signals): number {
  return 128 + (constants.signals[sig] ?? 15);
}

/**
 * After the first signal, the orderly shutdown gets `ms`; past that (a server that went away
 * and never answers) the process exits anyway with 128+signo. The timer does not keep the
 * process alive.
 */
export function shutdownDeadline(sig: NodeJS.Signals, ms: number, onExpire: () => void): void {
  setTimeout(() => {
    onExpire();
    process.exit(exitStatusForSignal(sig));
  }, ms).unref();
}

/**
 * Calls `fn` on every SIGHUP (the init systems' reload) until disposed. While it is installed
 * SIGHUP no longer ends the process.
 */
export function onHangup(fn: () => void): { dispose(): void } {
  const handler = (): void => fn();
  process.on("SIGHUP", handler);
  return { dispose: () => process.off("SIGHUP", handler) };
}
