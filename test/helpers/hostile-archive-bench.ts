/**
 * A bench for running the hostile-archive corpus (./hostile-archive-corpus.ts) through every way
 * an archive reaches the disk: a temp root holding a sentinel directory (which the hostile paths
 * aim at) with its snapshot, the corpus, a store, an HTTP server for pinned downloads, and an
 * executor. assertNothingOutside checks that the sentinel is byte-for-byte as it was and that
 * nothing was written next to the destinations.
 */
import assert from "node:assert/strict";
import { access, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StageExecutor } from "../../agent/index.js";
import { silentLogger } from "../../shared/log.js";
import { FsArtifactStore } from "../../shared/store/index.js";
import { corpus, type HostileCase } from "./hostile-archive-corpus.js";
import { TestHttpServer } from "./http-server.js";
import { snapshotTree, type TreeNode } from "./tar-fixtures.js";

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export class HostileBench {
  #destNo = 0;

  private constructor(
    readonly root: string,
    readonly sentinel: string,
    readonly sentinelBefore: Map<string, TreeNode>,
    readonly cases: HostileCase[],
    readonly store: FsArtifactStore,
    readonly http: TestHttpServer,
    readonly workRoot: string,
    readonly executor: StageExecutor,
  ) {}

  static async create(): Promise<HostileBench> {
    const root = await mkdtemp(join(tmpdir(), "sf-hostile-"));
    const sentinel = join(root, "sentinel");
    await mkdir(join(sentinel, "etc"), { recursive: true });
    await writeFile(join(sentinel, "keep"), "original\n");
    await writeFile(join(sentinel, "etc/passwd"), "root:x:0:0\n");
    const sentinelBefore = await snapshotTree(sentinel);
    await mkdir(join(root, "scratch"));
    const cases = await corpus(sentinel, join(root, "scratch"));
    const store = await FsArtifactStore.open(join(root, "store"));
    const http = await TestHttpServer.start();
    const workRoot = join(root, "work");
    const executor = new StageExecutor({ store, workRoot, logger: silentLogger(), killGraceMs: 200 });
    return new HostileBench(root, sentinel, sentinelBefore, cases, store, http, workRoot, executor);
  }

  async close(): Promise<void> {
    await this.http.close();
    await this.store.close();
    await rm(this.root, { recursive: true, force: true });
  }

  /** The file a stage's script creates when it runs (it never should). */
  ranMarker(): string {
    return join(this.root, "script-ran");
  }

  /** Nothing outside the destination changed: the sentinel, and no stray entry in the root. */
  async assertNothingOutside(what: string): Promise<void> {
    assert.deepEqual(
      await snapshotTree(this.sentinel),
      this.sentinelBefore,
      `${what}: the sentinel is untouched`,
    );
    const strays = (await readdir(this.root)).filter(
      (n) => !/^(dest-\d+|sentinel|scratch|store|work|archives)$/.test(n),
    );
    assert.deepEqual(strays, [], `${what}: nothing was written next to the destination`);
  }

  /** A new, empty destination directory in the root. */
  async freshDest(): Promise<string> {
    const dest = this.absentDest();
    await mkdir(dest);
    return dest;
  }

  /** A new destination path in the root that does not exist. */
  absentDest(): string {
    return join(this.root, `dest-${++this.#destNo}`);
  }
}
