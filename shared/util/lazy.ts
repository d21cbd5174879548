/**
 * A value made on first use and kept: for what is costly to build and not always needed (the
 * runners' zod schemas), so that importing a module builds nothing.
 */
export function lazy<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}
