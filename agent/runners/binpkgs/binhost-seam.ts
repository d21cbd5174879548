/**
 * The seam between the emerge runner and a farm binhost (the binhost itself is issue 5).
 *
 * Protocol, for a stage whose `with.binhost` names a binhost and an agent that has a client:
 * 1. before the emerges, `binreposConf(name)` gives the binrepos.conf stanza (sync-uri,
 *    priority, …) the runner writes to `<config_root>/etc/portage/binrepos.conf/stagefarm-<name>.conf`
 *    for every config root the stage uses; each invocation then gets `--getbinpkg` and
 *    FEATURES=getbinpkg (unless `use: false`, which writes no stanza); after the last
 *    invocation the stanza is removed again, so the root passed on carries no farm config;
 * 2. after the emerges, the packages collected from PKGDIR (already stored as blobs, with
 *    their index stanzas) go to `publish(name, packages, ctx)` (unless `publish: false`).
 *    A publish that throws fails the stage.
 * An agent without a client logs that the farm binhost is not configured and builds without it.
 */
import type { Logger } from "pino";
import type { ResolvedStage } from "../../../shared/pipeline/index.js";
import type { ArtifactStore } from "../../../shared/store/index.js";
import type { CollectedBinpkg } from "./collect.js";
import type { LogSink } from "../common/index.js";

export type BinhostPackage = CollectedBinpkg;

export interface BinhostPublishContext {
  stage: ResolvedStage;
  store: ArtifactStore;
  signal: AbortSignal;
  log: LogSink;
  logger: Logger;
  /** The profile keys of PKGDIR/Packages' header (shared/binhost/profile-header.ts), if any. */
  profile?: Readonly<Record<string, string>>;
}

export interface BinhostClient {
  /** A binrepos.conf stanza that makes portage fetch from binhost `name`. */
  binreposConf(name: string): Promise<string>;
  /** Adds the stage's new packages to binhost `name`. */
  publish(name: string, packages: readonly BinhostPackage[], ctx: BinhostPublishContext): Promise<void>;
}

/** The file name, under etc/portage/binrepos.conf/, of the stanza for binhost `name`. */
export function binreposConfName(name: string): string {
  return `stagefarm-${name}.conf`;
}
