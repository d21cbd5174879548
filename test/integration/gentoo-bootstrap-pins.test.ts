/**
 * What the gentoo-bootstrap pipeline pins, checked against the facts read from upstream
 * (github:fosslinux/live-bootstrap, branch 1.0 = fcfc7bdef6fb73f7dceb9e140737aa80989fe0ca,
 * 2024-06-25: rootfs.py takes no mirror; the steps pass1.sh scripts build i386-unknown-linux-musl;
 * steps/manifest builds gcc-13.1.0; 242 distinct distfiles in its `build:` steps' sources, all
 * with a public URL), and scripts/live-bootstrap-distfiles.mjs reading both sources formats.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createShellRunner } from "../../agent/runners/shell/index.js";
import { loadPipeline, resolvePipeline } from "../../shared/pipeline/index.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { emergeContext } from "../helpers/emerge-stage.js";

const execFileAsync = promisify(execFile);
const REPO = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const PIPELINE = join(REPO, "pipelines/gentoo-bootstrap/pipeline.yaml");
const SCRIPT = join(REPO, "scripts/live-bootstrap-distfiles.mjs");
const LB_1_0 = "fcfc7bdef6fb73f7dceb9e140737aa80989fe0ca";
const REQUIRED = {
  live_bootstrap: "a".repeat(64),
  portage_sha256: "b".repeat(64),
  snapshot_sha256: "c".repeat(64),
};

void describe("gentoo-bootstrap pins", () => {
  void test("live-bootstrap is the procedure's 1.0: its commit, its distfiles, no mirror, its triplet", async () => {
    const spec = await loadPipeline(PIPELINE);
    const commit = spec.params.find((p) => p.name === "live_bootstrap_commit");
    assert.equal(commit?.default, LB_1_0);
    assert.equal(
      spec.params.some((p) => p.name === "live_bootstrap_mirror"),
      false,
    );
    const stages = resolvePipeline(spec, REQUIRED);
    const distfiles = stages.find((s) => s.name === "lb-distfiles");
    const pinned = distfiles?.inputs.filter((i) => i.path.startsWith("distfiles/")) ?? [];
    assert.equal(pinned.length, 242);
    assert.ok(pinned.some((i) => i.path === "distfiles/gcc-13.1.0.tar.xz"));
    assert.ok(pinned.some((i) => i.path === "distfiles/mes-0.26.1.tar.gz"));
    const lb = stages.find((s) => s.name === "live-bootstrap");
    assert.equal(lb?.env["LIVE_BOOTSTRAP_COMMIT"], LB_1_0);
    assert.match(
      lb?.script ?? "",
      /\.\/rootfs\.py -c --external-sources --cores "\$STAGEFARM_JOBS" --target /,
    );

    const text = await readFile(PIPELINE, "utf8");
    assert.doesNotMatch(text, /i686-unknown-linux-musl|live_bootstrap_mirror|FETCCOMMAND=/);
    assert.match(text, /^ {6}CHOST="i386-unknown-linux-musl"$/m);
    assert.match(text, /^ {6}CBUILD="i386-unknown-linux-musl"$/m);
    assert.match(text, /exec \/cross\/usr\/i386-unknown-linux-musl\/x86_64-bootstrap-linux-gnu\/gcc-bin\//);
  });

  void test("the distfiles script reads live-bootstrap 1.0's sources (url sha256 [name], mirrors as more lines) and the later f/g format", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-lb-distfiles-"));
    try {
      const sha = (c: string): string => c.repeat(64);
      await mkdir(join(dir, "steps/a-1"), { recursive: true });
      await mkdir(join(dir, "steps/b-2"), { recursive: true });
      await writeFile(
        join(dir, "steps/manifest"),
        "# comment\nbuild: a-1\nimprove: x\nbuild: b-2 ( X == True )\n",
      );
      await writeFile(
        join(dir, "steps/a-1/sources"),
        `https://example.org/a-1.tar.gz ${sha("a")}\nhttps://archive.example/a-1.tar.gz ${sha("a")}\n` +
          `https://example.org/dl?id=7 ${sha("c")} c-7.tar.gz\n`,
      );
      await writeFile(
        join(dir, "steps/b-2/sources"),
        `f https://example.org/b-2.tar.xz ${sha("b")}\ng https://git.example/gnulib~abc _ ${sha("d")} gnulib-abc.tar.gz\n`,
      );
      const out = await execFileAsync("node", [SCRIPT, "--checkout", dir]);
      assert.equal(
        out.stdout,
        [
          "      # also at https://archive.example/a-1.tar.gz",
          "      d-a-1-tar-gz:",
          '        url: "https://example.org/a-1.tar.gz"',
          `        sha256: ${sha("a")}`,
          '        path: "distfiles/a-1.tar.gz"',
          "      d-c-7-tar-gz:",
          '        url: "https://example.org/dl?id=7"',
          `        sha256: ${sha("c")}`,
          '        path: "distfiles/c-7.tar.gz"',
          "      d-b-2-tar-xz:",
          '        url: "https://example.org/b-2.tar.xz"',
          `        sha256: ${sha("b")}`,
          '        path: "distfiles/b-2.tar.xz"',
          "      d-gnulib-abc-tar-gz:",
          '        url: "${{ params.live_bootstrap_mirror }}/gnulib-abc.tar.gz"',
          `        sha256: ${sha("d")}`,
          '        path: "distfiles/gnulib-abc.tar.gz"',
          "",
        ].join("\n"),
      );
      assert.match(out.stderr, /4 distfiles \(1 from the mirror param\)/);

      // The same file name with two sha256s is refused.
      await writeFile(join(dir, "steps/b-2/sources"), `https://example.org/a-1.tar.gz ${sha("e")}\n`);
      await assert.rejects(
        execFileAsync("node", [SCRIPT, "--checkout", dir]),
        /a-1\.tar\.gz listed with two sha256s/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  void test("the live-bootstrap stage refuses a checkout of another commit and runs rootfs.py as the procedure does", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sf-lb-stage-"));
    const store = await FsArtifactStore.open(join(dir, "store"));
    try {
      // A checkout whose rootfs.py records its arguments, at a commit of its own.
      const src = join(dir, "src/live-bootstrap");
      await mkdir(src, { recursive: true });
      await writeFile(
        join(src, "rootfs.py"),
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$STAGEFARM_WORKSPACE/rootfs-args"\n',
        {
          mode: 0o755,
        },
      );
      const git = (...args: string[]) => execFileAsync("git", ["-C", src, ...args]);
      await git("init", "-q");
      await git("add", "rootfs.py");
      await git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x");
      const head = (await git("rev-parse", "HEAD")).stdout.trim();
      const stage = async (params: Record<string, string>) => {
        const spec = await loadPipeline(PIPELINE);
        const s = resolvePipeline(spec, { ...REQUIRED, ...params }).find((x) => x.name === "live-bootstrap");
        assert.ok(s);
        const c = await emergeContext(dir, s, store, { jobs: 3 });
        await execFileAsync("cp", ["-a", src, join(c.ctx.workspace, "live-bootstrap")]);
        await mkdir(join(c.ctx.workspace, "distfiles"));
        return c;
      };

      const other = await stage({});
      await assert.rejects(createShellRunner().run(other.ctx));
      assert.match(other.output(), new RegExp(`checkout is at '${head}'; the pipeline expects ${LB_1_0}`));

      const same = await stage({ live_bootstrap_commit: head });
      await createShellRunner().run(same.ctx);
      const args = await readFile(join(same.ctx.workspace, "rootfs-args"), "utf8");
      assert.equal(
        args,
        `-c\n--external-sources\n--cores\n3\n--target\n${join(same.ctx.workspace, "target")}\n`,
      );
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
