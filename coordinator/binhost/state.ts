/**
 * A binhost's state as the writer sees it during one write: the index read from the store
 * (package fields with portage's defaults and the header's CHOST filled back in), stagefarm's
 * record of it, and the lookups publication needs (published digests, BUILD_IDs per CPV).
 *
 * Write order (the writer holds the binhost's lock): package objects first (by the caller),
 * then stagefarm.json, then Packages.gz, then Packages, each an atomic replace. `Packages` is
 * the commit point: until it is replaced, clients see the previous index, whose packages are
 * all still there. stagefarm.json may briefly name paths that the index does not list; the
 * lookups only trust records of paths the index lists.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { Readable } from "node:stream";
import {
  mergeProfileHeader,
  nextTimestamp,
  parsePackages,
  renderPackages,
  withIndexDefaults,
  type PackagesIndex,
} from "../../shared/binhost/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { buildHeader } from "./header.js";
import { emptyMeta, parseMeta, renderMeta, type BinhostMeta } from "./meta.js";
import { indexGzPath, indexPath, metaPath } from "./paths.js";

export async function readObjectText(store: ArtifactStore, path: string): Promise<string | undefined> {
  let stream: Readable;
  try {
    stream = await store.getObject(path);
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    if (e.code === "not_found") return undefined;
    throw e;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

export const EMPTY_HEADER: Readonly<Record<string, string>> = { VERSION: "0" };

export async function readIndex(store: ArtifactStore, name: string): Promise<PackagesIndex | undefined> {
  const text = await readObjectText(store, indexPath(name));
  if (text === undefined) return undefined;
  try {
    const index = parsePackages(text, `binhost "${name}" Packages`);
    return { header: index.header, packages: index.packages.map((p) => withIndexDefaults(index.header, p)) };
  } catch (err: unknown) {
    const e = StagefarmError.from(err);
    throw new StagefarmError(
      "corrupt_artifact",
      `the index of binhost "${name}" is unreadable: ${e.message}`,
      {
        cause: e,
      },
    );
  }
}

export async function readMeta(store: ArtifactStore, name: string): Promise<BinhostMeta> {
  const text = await readObjectText(store, metaPath(name));
  return text === undefined
    ? emptyMeta()
    : parseMeta(text, `the record of binhost "${name}" (${metaPath(name)}: fix or remove it)`);
}

/** The TIMESTAMP of a Packages or Packages.gz body (undefined when it has none). */
export function timestampOf(body: Buffer, gz: boolean): number | undefined {
  const text = (gz ? gunzipSync(body) : body).toString("utf8");
  const end = text.indexOf("\n\n");
  const m = /^TIMESTAMP: ([0-9]+)$/m.exec(end < 0 ? text : text.slice(0, end));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

export class BinhostState {
  /** Package fields, defaults filled in, by PATH. */
  readonly packages = new Map<string, Record<string, string>>();
  /** Published bytes (uploaded digest and served sha256) → PATH. */
  readonly byDigest = new Map<string, string>();
  /** BUILD_IDs taken per CPV. */
  readonly ids = new Map<string, Set<number>>();
  /** Metadata of the packages added by this write (for the header). */
  readonly added: Array<Record<string, string>> = [];
  changed = false;

  private constructor(
    readonly name: string,
    readonly header: Readonly<Record<string, string>>,
    readonly meta: BinhostMeta,
    readonly exists: boolean,
  ) {}

  static async load(store: ArtifactStore, name: string): Promise<BinhostState> {
    const [index, meta] = await Promise.all([readIndex(store, name), readMeta(store, name)]);
    const s = new BinhostState(name, index?.header ?? EMPTY_HEADER, meta, index !== undefined);
    for (const pkg of index?.packages ?? []) s.addIndexed(pkg);
    for (const [path, rec] of Object.entries(meta.packages)) {
      if (!s.packages.has(path)) continue;
      s.byDigest.set(rec.digest, path);
      s.byDigest.set(rec.sha256, path);
    }
    return s;
  }

  /** The index's TIMESTAMP (0 before the first write). */
  get timestamp(): number {
    return Number(this.header.TIMESTAMP ?? "0") || 0;
  }

  private addIndexed(pkg: Record<string, string>): void {
    const path = pkg.PATH ?? "";
    this.packages.set(path, pkg);
    const cpv = pkg.CPV ?? "";
    const id = Number(pkg.BUILD_ID ?? "");
    if (Number.isSafeInteger(id) && id > 0) this.idsOf(cpv).add(id);
  }

  idsOf(cpv: string): Set<number> {
    let set = this.ids.get(cpv);
    if (set === undefined) this.ids.set(cpv, (set = new Set()));
    return set;
  }

  /** Adds a package written by this write. */
  add(stanza: Record<string, string>, metadata: Record<string, string>, digests: string[]): void {
    const withDefaults = withIndexDefaults({}, stanza);
    this.addIndexed(withDefaults);
    for (const d of digests) this.byDigest.set(d, stanza.PATH ?? "");
    this.added.push(metadata);
    this.changed = true;
  }

  /** Merges a publisher's profile keys into the header's (a write is due when they add anything). */
  mergeProfile(profile: Readonly<Record<string, string>>): void {
    const merged = mergeProfileHeader(this.meta.profile, profile);
    if (JSON.stringify(merged) === JSON.stringify(this.meta.profile)) return;
    this.meta.profile = merged;
    this.changed = true;
  }

  /** Drops packages from the index (their objects are deleted after the index no longer lists them). */
  drop(paths: Iterable<string>): void {
    for (const path of paths) {
      const pkg = this.packages.get(path);
      if (pkg === undefined) continue;
      this.packages.delete(path);
      this.ids.get(pkg.CPV ?? "")?.delete(Number(pkg.BUILD_ID ?? ""));
      delete this.meta.packages[path];
      this.changed = true;
    }
    for (const [d, p] of [...this.byDigest]) if (!this.packages.has(p)) this.byDigest.delete(d);
  }

  /**
   * On a store without a lock between processes (S3: one writer by design), refuses to write
   * over an index that another writer replaced since this write read it (`conflict`). A check
   * before the put, not a conditional put: it catches a second coordinator on one bucket in
   * all but a narrow window, instead of losing its packages silently.
   */
  private async assertUnchanged(store: ArtifactStore): Promise<void> {
    const text = await readObjectText(store, indexPath(this.name));
    const now = text === undefined ? -1 : (timestampOf(Buffer.from(text), false) ?? 0);
    const read = this.exists ? this.timestamp : -1;
    if (now === read) return;
    throw new StagefarmError(
      "conflict",
      `binhost "${this.name}" was written by another writer during this write (TIMESTAMP ${read < 0 ? "none" : read} → ${now < 0 ? "none" : now}); nothing was indexed. ${store.describe} has no lock between processes: only one coordinator may write its binhosts`,
      { details: { binhost: this.name } },
    );
  }

  /** Writes stagefarm.json, Packages.gz and Packages; returns the new TIMESTAMP. */
  async write(store: ArtifactStore, signal?: AbortSignal): Promise<number> {
    const packages = [...this.packages.values()];
    const timestamp = nextTimestamp(this.header.TIMESTAMP);
    const header = buildHeader({
      previous: this.header,
      packages,
      added: this.added,
      profile: this.meta.profile,
      configured: this.meta.settings.header,
      timestamp,
    });
    const text = renderPackages({ header, packages });
    for (const path of Object.keys(this.meta.packages))
      if (!this.packages.has(path)) delete this.meta.packages[path];
    const opts = signal === undefined ? {} : { signal };
    if (store.lockObject === undefined) await this.assertUnchanged(store);
    await store.putObject(metaPath(this.name), Buffer.from(renderMeta(this.meta)), opts);
    await store.putObject(indexGzPath(this.name), gzipSync(Buffer.from(text)), opts);
    await store.putObject(indexPath(this.name), Buffer.from(text), opts);
    return Number(timestamp);
  }
}
