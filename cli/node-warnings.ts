/**
 * Node warnings that say nothing to a stagefarm user. grpc-js sets the TLS server name to the
 * target's host, and for a farm reached by IP address (`--coordinator https://10.0.0.5:7420`,
 * certificates with IP SANs, as `stagefarm certs` issues them) Node then prints DEP0123 ("Setting
 * the TLS ServerName to an IP address is not permitted by RFC 6066") on every command. The
 * certificate is still checked against the IP address; only the SNI value is ignored, which is
 * what RFC 6066 asks. Every other warning is printed as Node would.
 */
const SILENCED: ReadonlySet<string> = new Set(["DEP0123"]);

function codeOf(args: unknown[]): string | undefined {
  const [typeOrOptions, code] = args;
  if (typeof code === "string") return code;
  if (typeof typeOrOptions === "object" && typeOrOptions !== null && "code" in typeOrOptions) {
    const c = (typeOrOptions as { code?: unknown }).code;
    return typeof c === "string" ? c : undefined;
  }
  return undefined;
}

/** Installs the filter on `proc` (the CLI's `process`); called once by the entry point. */
export function silenceIrrelevantWarnings(proc: NodeJS.Process): void {
  const emit = proc.emitWarning.bind(proc) as (warning: string | Error, ...args: unknown[]) => void;
  proc.emitWarning = (warning: string | Error, ...args: unknown[]): void => {
    const code = warning instanceof Error ? (warning as NodeJS.ErrnoException).code : codeOf(args);
    if (code !== undefined && SILENCED.has(code)) return;
    emit(warning, ...args);
  };
}
