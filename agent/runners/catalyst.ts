/**
 * The `catalyst` runner: one Catalyst build (a stage tarball or an ISO) from a releng checkout,
 * a seed and a repo snapshot, all placed in the workspace as inputs. Configuration: `with`
 * (shared/runner-config/catalyst.ts); the data logic is pure in shared/catalyst/.
 *
 * Steps
 *  1. `catalyst --version` when the stage pins `catalyst_version`.
 *  2. The releng checkout (with.releng) is edited in place with `releng_edits`.
 *  3. The spec template (with.spec) is rendered: @TIMESTAMP@ @DATESTAMP@ @REPO_DIR@ @TREEISH@
 *     (REPO_DIR = the checkout's absolute path here), then `overrides`. The result is logged.
 *  4. catalyst.conf is written (TOML): runner defaults, the stage's `catalyst_conf`, and
 *     `storedir` forced into the workspace's private area (logged when it overrides the stage).
 *  5. The seed is linked to storedir/builds/<source_subpath>.<ext> ("missing seed" when the spec
 *     needs one and with.seed is unset), the snapshot to storedir/snapshots/<repo>-<treeish>.sqfs.
 *  6. `catalyst -c <conf> -f <spec>` runs in its own process group (stage env, timeout, cancel).
 *  7. The files it wrote to storedir/builds/<rel_type>/ go to workspace `build/`, the primary one
 *     also to `image.<ext>`; binary packages in its pkgcache are stored one output each
 *     (`binpkg:<path>`, `binpkgs.index`, see ./binpkgs.ts).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  confOptions,
  confString,
  pkgcacheSubpath,
  renderCatalystConf,
  renderSpec,
  RUNNER_CONF_DEFAULTS,
  snapshotFileName,
  specLayout,
  type RenderedConf,
  type SpecLayout,
} from "../../shared/catalyst/index.js";
import { StagefarmError } from "../../shared/errors.js";
import { datestampOf, parseCatalystWith, type CatalystWith } from "../../shared/runner-config/catalyst.js";
import { privatePath } from "../workspace.js";
import { collectBinpkgs, snapshotPkgdir } from "./binpkgs.js";
import { collectBuild, listBuilds } from "./catalyst-collect.js";
import { inputFile, placeSeed, placeSnapshot } from "./catalyst-place.js";
import { checkCatalystVersion, runCatalystBuild, type CatalystCommand } from "./catalyst-process.js";
import { applyRelengEdits, readSpecTemplate, relengRoot } from "./catalyst-releng.js";
import { scriptEnv } from "./script-env.js";
import type { Runner, RunnerContext, RunnerResult } from "./types.js";

export interface CatalystRunnerOptions {
  /** The Catalyst executable and any leading arguments (default ["catalyst"]). */
  catalystCommand?: readonly string[];
  /** Time between SIGTERM and SIGKILL when the build is cancelled or times out (default 5 s). */
  killGraceMs?: number;
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

  const { layout, specPath } = await prepareSpec(ctx, w, dir, say);
  const conf = renderCatalystConf({
    pipeline: w.catalyst_conf,
    defaults: { ...RUNNER_CONF_DEFAULTS, jobs: ctx.jobs },
    forced: { storedir },
  });
  const confPath = join(dir, "catalyst.conf");
  await writeFile(confPath, conf.text);
  logConf(conf, say);

  await placeInputs(ctx, w, layout, conf, storedir, say);
  const buildsDir = join(storedir, "builds", layout.relType);
  const also = layout.iso !== undefined ? [layout.iso] : [];
  const before = await listBuilds(buildsDir, also);
  const options = confOptions(conf.values);
  const pkgcacheRel = options.includes("pkgcache") ? pkgcacheSubpath(layout, options) : undefined;
  const pkgcacheDir = pkgcacheRel !== undefined ? join(storedir, pkgcacheRel) : undefined;
  const pkgBefore = pkgcacheDir !== undefined ? await snapshotPkgdir(pkgcacheDir, signal) : undefined;

  say(`running ${[...cmd.command, "-c", confPath, "-f", specPath].join(" ")}`);
  await runCatalystBuild(stage.name, {
    ...cmd,
    confPath,
    specPath,
    timeoutMs: stage.timeoutMs,
    onOutput: (chunk) => ctx.log.write(chunk),
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

/** Steps 2 and 3: edits, rendering, the spec file written and logged. */
async function prepareSpec(
  ctx: RunnerContext,
  w: CatalystWith,
  dir: string,
  say: (line: string) => void,
): Promise<{ layout: SpecLayout; specPath: string }> {
  const { stage, workspace } = ctx;
  const rctx = { stage: stage.name, workspace, releng: w.releng, log: say };
  const repoDir = await relengRoot(rctx);
  await applyRelengEdits(rctx, w.releng_edits);
  const file = `${w.releng}/${w.spec}`;
  const rendered = renderSpec({
    template: await readSpecTemplate(rctx, w.spec),
    file,
    vars: { TIMESTAMP: w.timestamp, DATESTAMP: datestampOf(w), REPO_DIR: repoDir, TREEISH: w.treeish },
    overrides: w.overrides,
  });
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
  return { layout, specPath };
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
  conf: RenderedConf,
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
    const rel = await placeSeed({ seed, storedir, sourceSubpath: layout.sourceSubpath, stage: stage.name });
    say(`seed ${w.seed} placed at storedir/${rel}`);
  } else if (w.seed !== undefined) {
    say(`the spec has no source_subpath: seed ${w.seed} is not used`);
  }
  const snapshot = await inputFile(workspace, w.snapshot, stage.name, "snapshot");
  const name = snapshotFileName(confString(conf.values, "repo_name"), layout.treeish);
  const rel = await placeSnapshot({ snapshot, storedir, name });
  say(`snapshot ${w.snapshot} placed at storedir/${rel}`);
}
