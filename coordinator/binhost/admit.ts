/**
 * The second step of a publication, under the binhost's lock: decide each package's BUILD_ID
 * and path, renumber it when needed, write the package objects, and add them to the state.
 * All or nothing per request: the decisions of a request are made on a tentative overlay of
 * the state and only merged once every one of its packages was written.
 *
 * BUILD_ID: the package keeps its own when no build of its CPV in this binhost has it; else
 * (or when it has none) it gets max+1 of that CPV's ids and the package is rewritten with that
 * id inside (portage reads BUILD_ID from the package, not the file name, so the index and the
 * package must agree): a gpkg's metadata archive and Manifest, an xpak's XPAK segment (the
 * tarball kept). A signed gpkg cannot be rewritten: refused.
 *
 * Duplicates: bytes already published (the uploaded digest, or the sha256 of a served object)
 * are not written again; the result names the path that has them.
 */
import { createReadStream } from "node:fs";
import { rewriteGpkgBuildId, rewriteXpakBuildId, type BinpkgInfo } from "../../shared/binpkg/index.js";
import { packagePath, splitPf, stanzaFor } from "../../shared/binhost/index.js";
import { StagefarmError } from "../../shared/errors.js";
import type { BinhostPackageRef, PublishedPackage } from "../../shared/protocol/binhost.js";
import type { ArtifactStore } from "../../shared/store/index.js";
import { describeRef, type InspectedPackage } from "./inspect.js";
import { objectPath } from "./paths.js";
import type { BinhostState } from "./state.js";

/** A request as the writer gets it: refs in order, inspected ones by digest (duplicates may be missing). */
export interface AdmitRequest {
  refs: readonly BinhostPackageRef[];
  inspected: ReadonlyMap<string, InspectedPackage>;
  /** Inspects a ref the publisher skipped as a duplicate that is no longer published. */
  inspect(ref: BinhostPackageRef): Promise<InspectedPackage>;
}

interface Planned {
  ref: BinhostPackageRef;
  file: string;
  info: BinpkgInfo;
  path: string;
  buildId: number;
  renumberedFrom?: number;
}

function mtimeSeconds(mtime: Date | number): number {
  return Math.floor((typeof mtime === "number" ? mtime : mtime.getTime()) / 1000);
}

function stanzaOf(info: BinpkgInfo, path: string, mtime: number): Record<string, string> {
  return stanzaFor({ metadata: info.metadata, path, size: info.size, mtime, md5: info.md5, sha1: info.sha1 });
}

export async function admitRequest(
  store: ArtifactStore,
  state: BinhostState,
  req: AdmitRequest,
  signal?: AbortSignal,
): Promise<PublishedPackage[]> {
  const name = state.name;
  const results: PublishedPackage[] = [];
  const planned: Planned[] = [];
  const newIds = new Map<string, Set<number>>();
  const newDigests = new Map<string, Planned>();
  const taken = (cpv: string, id: number): boolean =>
    state.ids.get(cpv)?.has(id) === true || newIds.get(cpv)?.has(id) === true;

  for (const ref of req.refs) {
    const existing = state.byDigest.get(ref.digest);
    const sameRequest = newDigests.get(ref.digest);
    if (existing !== undefined || sameRequest !== undefined) {
      const pkg = existing === undefined ? undefined : state.packages.get(existing);
      results.push({
        digest: ref.digest,
        path: existing ?? sameRequest?.path ?? "",
        cpv: pkg?.CPV ?? sameRequest?.info.cpv ?? "",
        buildId: Number(pkg?.BUILD_ID ?? sameRequest?.buildId ?? 0),
        duplicate: true,
      });
      continue;
    }
    const insp = req.inspected.get(ref.digest) ?? (await req.inspect(ref));
    const { info } = insp;
    const cpv = info.cpv;
    const own = info.buildId;
    let buildId = own ?? 0;
    if (own === undefined || own < 1 || taken(cpv, own)) {
      let max = 0;
      for (const id of [...(state.ids.get(cpv) ?? []), ...(newIds.get(cpv) ?? [])]) max = Math.max(max, id);
      buildId = max + 1;
    }
    let file = insp.file;
    let final = info;
    const renumbered = buildId !== own;
    if (renumbered) {
      const why =
        own === undefined
          ? "it has no BUILD_ID"
          : `BUILD_ID ${own} of ${cpv} is already in binhost "${name}"`;
      if (info.signed)
        throw new StagefarmError(
          "invalid_argument",
          `binhost "${name}": package ${describeRef(ref)} (${cpv}) needs a new BUILD_ID (${why}), and it is signed: rewriting it would break the signature`,
          { details: { digest: ref.digest, cpv } },
        );
      file = `${insp.file}.build-${buildId}`;
      const rewrite = info.format === "gpkg" ? rewriteGpkgBuildId : rewriteXpakBuildId;
      final = await rewrite(insp.file, buildId, file, signal === undefined ? {} : { signal });
    }
    const { pn } = splitPf(info.pf);
    const path = packagePath(
      info.category,
      pn,
      info.pf,
      buildId,
      info.format === "gpkg" ? "gpkg.tar" : "xpak",
    );
    // Refuses what portage could not index (no SLOT, unparsable dependencies) before anything is written.
    try {
      stanzaOf(final, path, 0);
    } catch (err: unknown) {
      const e = StagefarmError.from(err);
      throw new StagefarmError(
        e.code,
        `binhost "${name}": package ${describeRef(ref)} refused: ${e.message}`,
        {
          cause: e,
          details: { digest: ref.digest, cpv },
        },
      );
    }
    const p: Planned = {
      ref,
      file,
      info: final,
      path,
      buildId,
      ...(renumbered ? { renumberedFrom: own ?? 0 } : {}),
    };
    let ids = newIds.get(cpv);
    if (ids === undefined) newIds.set(cpv, (ids = new Set()));
    ids.add(buildId);
    newDigests.set(ref.digest, p);
    planned.push(p);
    results.push({
      digest: ref.digest,
      path,
      cpv,
      buildId,
      duplicate: false,
      ...(p.renumberedFrom === undefined ? {} : { renumberedFrom: p.renumberedFrom }),
    });
  }

  // Every package of the request is good: write the objects, then take them into the state.
  const written: Array<{ p: Planned; stanza: Record<string, string> }> = [];
  for (const p of planned) {
    const put = await store.putObject(
      objectPath(name, p.path),
      createReadStream(p.file),
      signal === undefined ? {} : { signal },
    );
    if (put.size !== p.info.size)
      throw new StagefarmError(
        "corrupt_artifact",
        `binhost "${name}": writing ${p.path} stored ${put.size} bytes, the package has ${p.info.size}`,
      );
    written.push({ p, stanza: stanzaOf(p.info, p.path, mtimeSeconds(put.mtime)) });
  }
  const now = new Date().toISOString();
  for (const { p, stanza } of written) {
    state.add(stanza, p.info.metadata, [p.ref.digest, p.info.sha256]);
    state.meta.packages[p.path] = {
      digest: p.ref.digest,
      sha256: p.info.sha256,
      publishedAt: now,
      ...(p.ref.stage === undefined ? {} : { stage: p.ref.stage }),
      ...(p.ref.run === undefined ? {} : { run: p.ref.run }),
      ...(p.ref.agent === undefined ? {} : { agent: p.ref.agent }),
      ...(p.renumberedFrom === undefined ? {} : { renumberedFrom: p.renumberedFrom }),
    };
  }
  return results;
}
