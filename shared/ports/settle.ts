/** Runs synchronous work behind a promise-returning API: a throw becomes a rejection, never a synchronous exception. */
export function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err: unknown) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
