/** Read-only views of the binhosts in a store (no lock: each reads one consistent index). */
import { StagefarmError } from "../../shared/errors.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import type { BinhostSettings, PackageRecord } from "./meta.js";
import { assertBinhostName, BINHOST_PREFIX } from "./paths.js";
import { BinhostState, readIndex } from "./state.js";

export interface BinhostSummary {
  name: string;
  packages: number;
  bytes: number;
  timestamp: number;
}

export interface BinhostPackageInfo {
  path: string;
  cpv: string;
  buildId: number;
  buildTime: number;
  size: number;
  use: string;
  /** Who published it (absent for packages stagefarm has no record of). */
  record?: PackageRecord;
}

export interface BinhostDetails extends BinhostSummary {
  header: Record<string, string>;
  settings: BinhostSettings;
  entries: BinhostPackageInfo[];
}

function summaryOf(
  name: string,
  header: Readonly<Record<string, string>>,
  packages: ReadonlyArray<Readonly<Record<string, string>>>,
): BinhostSummary {
  return {
    name,
    packages: packages.length,
    bytes: packages.reduce((a, p) => a + (Number(p.SIZE ?? "0") || 0), 0),
    timestamp: Number(header.TIMESTAMP ?? "0") || 0,
  };
}

/** Every binhost in the store (a `binhost/<name>/Packages` makes one). */
export async function listBinhosts(store: ArtifactStore): Promise<BinhostSummary[]> {
  const names = new Set<string>();
  for await (const o of store.listObjects(BINHOST_PREFIX)) {
    const m = /^binhost\/([^/]+)\/Packages$/.exec(o.path);
    if (m?.[1] !== undefined) names.add(m[1]);
  }
  const out: BinhostSummary[] = [];
  for (const name of [...names].sort()) {
    const index = await readIndex(store, name);
    if (index !== undefined) out.push(summaryOf(name, index.header, index.packages));
  }
  return out;
}

/** One binhost: its header, settings, and every package with who published it. */
export async function showBinhost(store: ArtifactStore, name: string): Promise<BinhostDetails> {
  assertBinhostName(name);
  const state = await BinhostState.load(store, name);
  if (!state.exists) throw new StagefarmError("not_found", `no binhost "${name}"`);
  const packages = [...state.packages.values()];
  const entries = packages
    .map((p): BinhostPackageInfo => {
      const path = p.PATH ?? "";
      const record = state.meta.packages[path];
      return {
        path,
        cpv: p.CPV ?? "",
        buildId: Number(p.BUILD_ID ?? "0") || 0,
        buildTime: Number(p.BUILD_TIME ?? "0") || 0,
        size: Number(p.SIZE ?? "0") || 0,
        use: p.USE ?? "",
        ...(record === undefined ? {} : { record }),
      };
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    ...summaryOf(name, state.header, packages),
    header: { ...state.header },
    settings: state.meta.settings,
    entries,
  };
}
