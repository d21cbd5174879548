/**
 * The `catalyst` runner: one Catalyst build (a stage tarball or an ISO) from a releng checkout,
 * a seed and a repo snapshot, all placed in the workspace as inputs. Configuration: `with`
 * (shared/runner-config/catalyst.ts); the data logic is pure in shared/catalyst/.
 *
 * Steps
 *  1. `catalyst --version` when the stage pins `catalyst_version`.
 *  1b. The snapshot is inspected (agent/runners/catalyst-snapshot.ts): a squashfs, or a
 *     `git archive` of the repo that must be of commit `treeish` and whose commit date is
 *     TIMESTAMP unless the stage sets one.
 *  2. The releng checkout (with.releng) is edited in place with `releng_edits`.
 *  3. The spec template (with.spec) is rendered: @TIMESTAMP@ @DATESTAMP@ @REPO_DIR@ @TREEISH@
 *     (REPO_DIR = the checkout's absolute path here), then `overrides`. The result is logged.
 *  4. catalyst.conf is written (TOML): runner defaults, the stage's `catalyst_conf`, and
 *     `storedir` forced into the workspace's private area (logged when it overrides the stage).
 *     The rendered spec's keys are checked against its target (Catalyst 4.1.1's, as data in
 *     shared/catalyst/upstream-4.1.1.ts), and what it needs of Catalyst (an unreleased cdtar)
 *     is said before the build and again with its failure.
 *  5. The seed is linked to storedir/builds/<source_subpath>.<ext> ("missing seed" when the spec
 *     needs one and with.seed is unset; its extension from its content), the snapshot to
 *     storedir/snapshots/<repo>-<treeish>.sqfs (packed with tar2sqfs from a git archive).
 *  6. `catalyst -v -c <conf> -f <spec>` (the procedure's `-v`) runs in its own process group (stage env, timeout, cancel).
 *  7. The files it wrote to storedir/builds/<rel_type>/ go to workspace `build/`, the primary one
 *     also to `image.<ext>`; binary packages in its pkgcache are stored one output each
 *     (`binpkg:<path>`, `binpkgs.index`, see ./binpkgs.ts).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, join } from "node:path";
import {
  confOptions,
  confString,
  pkgcacheSubpath,
  renderCatalystConf,
  renderSpec,
  RUNNER_CONF_DEFAULTS,
  snapshotFileName,
  specKeyProblems,
  specLayout,
  unreleasedSharedFiles,
  CATALYST_DATA_VERSION,
  type RenderedConf,
  type SpecLayout,
} from "../../shared/catalyst/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { datestampOf, parseCatalystWith, type CatalystWith } from "../../shared/runner-config/index.js";
import { privatePath } from "../workspace.js";
import { collectBinpkgs, snapshotPkgdir } from "./binpkgs.js";
import { collectBuild, listBuilds } from "./catalyst-collect.js";
import { inputFile, placeSeed, placeSnapshot } from "./catalyst-place.js";
import { checkCatalystVersion, runCatalystBuild, type CatalystCommand } from "./catalyst-process.js";
import { applyRelengEdits, readSpecTemplate, relengRoot } from "./catalyst-releng.js";
import { inspectSnapshot, packSnapshot, type SnapshotInput } from "./catalyst-snapshot.js";
import { scriptEnv } from "./script-env.js";
import type { Runner, RunnerContext, RunnerResult } from "./types.js";

export interface CatalystRunnerOptions {
  /** The Catalyst executable and any leading arguments (default ["catalyst"]). */
  catalystCommand?: readonly string[];
  /** Time between SIGTERM and SIGKILL when the build is cancelled or times out (default 5 s). */
  killGraceMs?: number;
  /** catalyst.conf `load-average` unless the stage sets it (default: this host's CPUs). */
  loadAverage?: number;
  /** squashfs-tools-ng's tar2sqfs and any leading arguments (default ["tar2sqfs"]). */
  tar2sqfsCommand?: readonly string[];
}

/** The runner's directory in the workspace's private area: catalyst.conf, the spec, storedir. */
const CATALYST_DIR = "catalyst";

export function createCatalystRunner(opts: CatalystRunnerOptions = {}): Runner {
  return {
    kind: "catalyst",
    run: (ctx) => runCatalyst(ctx, opts),
  };
}

async function runCatalyst(ctx: RunnerContext, opts: CatalystRunnerOptions): Promise<RunnerResult> {
  const { stage, workspace, signal } = ctx;
  const w = parseCatalystWith(stage);
  const say = (line: string): void => ctx.log.write(`>>> catalyst: ${line}\n`);
  const dir = privatePath(workspace, CATALYST_DIR);
  const storedir = join(dir, "store");
  const tmpDir = privatePath(workspace, "tmp");
  await mkdir(storedir, { recursive: true });
  await mkdir(tmpDir, { recursive: true });
  const cmd: CatalystCommand = {
    command: opts.catalystCommand ?? ["catalyst"],
    cwd: dir,
    env: scriptEnv(stage, { workspace, tmpDir, jobs: ctx.jobs }),
    signal,
    killGraceMs: opts.killGraceMs,
  };

  if (w.catalyst_version !== undefined)
    say(`catalyst ${await checkCatalystVersion(stage.name, w.catalyst_version, cmd)} (as required)`);

  const conf = renderCatalystConf({
    pipeline: w.catalyst_conf,
    // The procedure: "set jobs and load-average appropriately" (MAKEOPTS -j/-l in Catalyst's chroot).
    defaults: {
      ...RUNNER_CONF_DEFAULTS,
      jobs: ctx.jobs,
      "load-average": opts.loadAverage ?? availableParallelism(),
    },
    forced: { storedir },
  });
  const snapshot = await inputFile(workspace, w.snapshot, stage.name, "snapshot");
  const snapshotInput = await inspectSnapshot(snapshot, stage.name, w.treeish);
  const timestamp = timestampFor(stage.name, w, snapshotInput, say);
  const { layout, specPath, needs } = await prepareSpec(
    ctx,
    w,
    { dir, sharedir: confString(conf.values, "sharedir"), timestamp },
    say,
  );
  const confPath = join(dir, "catalyst.conf");
  await writeFile(confPath, conf.text);
  logConf(conf, say);

  await placeInputs(ctx, w, layout, storedir, say);
  const snapshotName = snapshotFileName(confString(conf.values, "repo_name"), layout.treeish);
  if (snapshotInput.t === "sqfs") {
    const rel = await placeSnapshot({ snapshot, storedir, name: snapshotName });
    say(`snapshot ${w.snapshot} placed at storedir/${rel}`);
  } else {
    await packSnapshot({
      archive: snapshot,
      input: snapshotInput,
      out: join(storedir, "snapshots", snapshotName),
      tar2sqfs: opts.tar2sqfsCommand ?? ["tar2sqfs"],
      env: cmd.env,
      signal,
      stage: stage.name,
      log: say,
    });
    say(`snapshot: git archive of ${snapshotInput.info.commit} packed as storedir/snapshots/${snapshotName}`);
  }
  const buildsDir = join(storedir, "builds", layout.relType);
  const also = layout.iso !== undefined ? [layout.iso] : [];
  const before = await listBuilds(buildsDir, also);
  const options = confOptions(conf.values);
  const pkgcacheRel = options.includes("pkgcache") ? pkgcacheSubpath(layout, options) : undefined;
  const pkgcacheDir = pkgcacheRel !== undefined ? join(storedir, pkgcacheRel) : undefined;
  const pkgBefore = pkgcacheDir !== undefined ? await snapshotPkgdir(pkgcacheDir, signal) : undefined;

  say(`running ${[...cmd.command, "-v", "-c", confPath, "-f", specPath].join(" ")}`);
  await runCatalystBuild(stage.name, {
    ...cmd,
    confPath,
    specPath,
    timeoutMs: stage.timeoutMs,
    onOutput: (chunk) => ctx.log.write(chunk),
  }).catch((err: unknown) => {
    const e = StagefarmError.from(err);
    if (needs === undefined || e.code === "cancelled") throw e;
    throw new StagefarmError(e.code, `${e.message}\n${needs}`, { cause: e });
  });

  await collectBuild({ stage: stage.name, workspace, buildsDir, before, layout, log: say });
  if (pkgcacheDir === undefined) return {};
  const binpkgs = await collectBinpkgs({
    pkgdir: pkgcacheDir,
    before: pkgBefore,
    store: ctx.store,
    signal,
    log: say,
    shownAs: `storedir/${pkgcacheRel ?? ""}`,
  });
  return { stored: binpkgs.stored };
}

/** What a spec needs of the Catalyst installed, said before the build and with its failure. */
function catalystNeeds(settings: RenderedSpecSettings, sharedir: string): string | undefined {
  const files = unreleasedSharedFiles(settings, sharedir);
  if (files.length === 0) return undefined;
  return files
    .map(
      (f) =>
        `the spec's ${f.key} ${f.path} is shipped only by Catalyst after ${CATALYST_DATA_VERSION} (git master from ${f.commit.slice(0, 12)}, dev-util/catalyst-9999); ${CATALYST_DATA_VERSION} and earlier stop with "Cannot locate specified cdtar". Use a releng commit before 4f5265a6e3b4 (the pipeline's default 87eea8b6…) or install Catalyst from git master.`,
    )
    .join("\n");
}

type RenderedSpecSettings = ReadonlyMap<string, string | string[]>;

/** Steps 2 and 3: edits, rendering, the spec file written and logged. */
async function prepareSpec(
  ctx: RunnerContext,
  w: CatalystWith,
  where: { dir: string; sharedir: string; timestamp: string },
  say: (line: string) => void,
): Promise<{ layout: SpecLayout; specPath: string; needs: string | undefined }> {
  const { dir, sharedir, timestamp } = where;
  const { stage, workspace } = ctx;
  const rctx = { stage: stage.name, workspace, releng: w.releng, log: say };
  const repoDir = await relengRoot(rctx);
  await applyRelengEdits(rctx, w.releng_edits);
  const file = `${w.releng}/${w.spec}`;
  const rendered = renderSpec({
    template: await readSpecTemplate(rctx, w.spec),
    file,
    vars: {
      TIMESTAMP: timestamp,
      DATESTAMP: datestampOf(w, timestamp),
      REPO_DIR: repoDir,
      TREEISH: w.treeish,
    },
    overrides: w.overrides,
  });
  const keyProblems = specKeyProblems(rendered.doc, rendered.settings);
  if (keyProblems.length > 0)
    throw new StagefarmError(
      "invalid_pipeline",
      `stage "${stage.name}": Catalyst ${CATALYST_DATA_VERSION} would refuse the rendered spec:\n${keyProblems.map((p) => `${p.where}: ${p.message}`).join("\n")}`,
      { details: { stage: stage.name, problems: keyProblems } },
    );
  const layout = specLayout(rendered.settings, file);
  if (layout.pkgcachePath !== undefined)
    throw new StagefarmError(
      "invalid_pipeline",
      `stage "${stage.name}": ${file} sets pkgcache_path; the catalyst runner keeps the package cache in its own storedir (remove the key)`,
    );
  const specPath = join(dir, basename(w.spec));
  await writeFile(specPath, rendered.text);
  say(`rendered spec ${file}:`);
  ctx.log.write(rendered.text.endsWith("\n") ? rendered.text : `${rendered.text}\n`);
  say(`end of rendered spec`);
  const needs = catalystNeeds(rendered.settings, sharedir);
  if (needs !== undefined) say(needs);
  return { layout, specPath, needs };
}

function logConf(conf: RenderedConf, say: (line: string) => void): void {
  for (const f of conf.forced)
    say(
      `catalyst.conf: ${f.key} forced to ${JSON.stringify(f.value)}${
        f.overridden !== undefined ? ` (the stage's ${JSON.stringify(f.overridden)} is ignored)` : ""
      }`,
    );
  say("catalyst.conf:");
  for (const line of conf.text.trimEnd().split("\n")) say(`  ${line}`);
}

/** Step 5: the seed and the snapshot where Catalyst looks for them. */
async function placeInputs(
  ctx: RunnerContext,
  w: CatalystWith,
  layout: SpecLayout,
  storedir: string,
  say: (line: string) => void,
): Promise<void> {
  const { stage, workspace } = ctx;
  if (layout.sourceSubpath !== undefined) {
    if (w.seed === undefined)
      throw new StagefarmError(
        "invalid_pipeline",
        `stage "${stage.name}": missing seed: the spec's source_subpath is "${layout.sourceSubpath}" but with.seed is not set (give the seed tarball as a file input and name its path in with.seed)`,
        { details: { stage: stage.name, sourceSubpath: layout.sourceSubpath } },
      );
    const seed = await inputFile(workspace, w.seed, stage.name, "seed", "missing seed: ");
    const rel = await placeSeed({
      seed,
      storedir,
      sourceSubpath: layout.sourceSubpath,
      stage: stage.name,
      log: say,
    });
    say(`seed ${w.seed} placed at storedir/${rel}`);
  } else if (w.seed !== undefined) {
    say(`the spec has no source_subpath: seed ${w.seed} is not used`);
  }
}

/** TIMESTAMP: the stage's own, else (for a git-archive snapshot) its commit's date as catalyst-auto makes it. */
function timestampFor(
  stage: string,
  w: CatalystWith,
  input: SnapshotInput,
  say: (line: string) => void,
): string {
  if (input.t === "git-archive") {
    if (w.timestamp === undefined) {
      say(
        `TIMESTAMP ${input.timestamp}: the commit date of ${input.info.commit} (as catalyst-auto stamps it)`,
      );
      return input.timestamp;
    }
    if (w.timestamp !== input.timestamp)
      say(`TIMESTAMP ${w.timestamp} as the stage sets it (catalyst-auto would stamp ${input.timestamp})`);
    return w.timestamp;
  }
  if (w.timestamp === undefined)
    throw new StagefarmError(
      "invalid_pipeline",
      `stage "${stage}": with.timestamp is not set and the snapshot is a squashfs, which does not say its commit date (set timestamp, or give a \`git archive\` of the repository at the treeish)`,
    );
  return w.timestamp;
}
