/**
 * A bench for runInChroot against a real Debian chroot (debootstrap, made once per machine):
 * a temp dir, a shared root unpacked from the cached archive, fresh roots on demand, and running
 * a script in a root with the defaults the tests share (minimal /dev, the host's resolv.conf,
 * bash, no binds, exactly ENV). close() fails if a mount under the temp dir is left.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInChroot, type ChrootExecOptions } from "../../agent/runners/chroot/index.js";
import type { ProcessOutcome } from "../../agent/testing.js";
import { unpackFile } from "../../shared/pack/index.js";
import { debootstrapCache } from "./debootstrap.js";
import { hostMountsUnder } from "./leak-probes.js";

/** The environment every run gets (unless a test overrides it). */
export const ENV = {
  PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  TERM: "dumb",
  FOO: `it's "quoted" $x`,
};

export class ChrootExecBench {
  #n: number;

  private constructor(
    readonly dir: string,
    readonly archive: string,
    /** The root runs use unless given another. */
    readonly shared: string,
    roots: number,
  ) {
    this.#n = roots;
  }

  static async create(): Promise<ChrootExecBench> {
    const dir = await mkdtemp(join(tmpdir(), "sf-chroot-exec-"));
    const archive = (await debootstrapCache()).archive;
    const shared = join(dir, "root1");
    await unpackFile(archive, shared);
    return new ChrootExecBench(dir, archive, shared, 1);
  }

  /** Asserts that no mount is left under the temp dir, then removes it. */
  async close(): Promise<void> {
    assert.deepEqual(await hostMountsUnder(this.dir), []);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** A new root unpacked from the debootstrap archive. */
  async freshRoot(): Promise<string> {
    const root = join(this.dir, `root${++this.#n}`);
    await unpackFile(this.archive, root);
    return root;
  }

  /** Runs `script` in the shared root (or as `over` says); its outcome and its output. */
  async run(
    script: string,
    over: Partial<ChrootExecOptions> = {},
  ): Promise<{ outcome: ProcessOutcome; output: string }> {
    let output = "";
    const outcome = await runInChroot({
      root: this.shared,
      script,
      env: ENV,
      login: false,
      dev: "minimal",
      resolvConf: "host",
      binds: [],
      shell: "/bin/bash",
      signal: new AbortController().signal,
      killGraceMs: 200,
      onOutput: (c) => (output += Buffer.from(c).toString()),
      ...over,
    });
    return { outcome, output };
  }
}
