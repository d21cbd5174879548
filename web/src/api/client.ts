/**
 * Requests to the coordinator's dashboard API (`/api/dashboard/`, relative to the page so the
 * dashboard also works behind a path prefix). Errors come back as `{error, code}` JSON and are
 * thrown as {@link ApiError}. Writes send JSON (the server refuses anything else: no
 * cross-site form can post to it).
 */
export const API_BASE = new URL("../api/dashboard/", document.baseURI);

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function apiUrl(path: string, query: Record<string, string | number | undefined> = {}): string {
  const url = new URL(path, API_BASE);
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
  return url.toString();
}

async function failure(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code = "unknown";
  try {
    const body = (await res.json()) as { error?: unknown; code?: unknown };
    if (typeof body.error === "string") message = body.error;
    if (typeof body.code === "string") code = body.code;
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(message, res.status, code);
}

export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(url, { signal, headers: { accept: "application/json" } });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

export async function postJson<T>(url: string, body: unknown = {}): Promise<T> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

/** Bytes `[start, end)` of a stored log (`end` undefined: to the end; `start` negative: the last -start bytes). */
export async function getLogRange(
  url: string,
  start: number,
  end: number | undefined,
  signal?: AbortSignal,
): Promise<{ start: number; size: number; data: Uint8Array } | undefined> {
  const range = start < 0 ? `bytes=${start}` : `bytes=${start}-${end === undefined ? "" : end - 1}`;
  const res = await fetch(url, { signal, headers: { range } });
  if (res.status === 404) return undefined;
  if (res.status === 416) {
    const size = Number(/\/(\d+)$/.exec(res.headers.get("content-range") ?? "")?.[1] ?? "0");
    return { start: size, size, data: new Uint8Array(0) };
  }
  if (!res.ok) throw await failure(res);
  const data = new Uint8Array(await res.arrayBuffer());
  const m = /bytes (\d+)-(\d+)\/(\d+)/.exec(res.headers.get("content-range") ?? "");
  if (m === null) return { start: 0, size: data.length, data };
  return { start: Number(m[1]), size: Number(m[3]), data };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
