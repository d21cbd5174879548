/**
 * The hostile-archive corpus, written by the test itself (tar-stream for ordinary entries, raw
 * ustar blocks for what no tool writes), run through every way an archive reaches the disk:
 * `unpackFile`, `unpackBlob`, and the executor's input placement (an upstream tree, a store
 * artifact with `unpack: true`, a pinned download with `unpack: true`).
 *
 * For every case and path: the archive is refused with `unsafe_archive` giving the reason (and
 * the entry, where one is to blame), the executor's error names the stage and the input, the
 * stage's script never runs, the destination (or the workspace) is left empty or removed, and
 * nothing outside it changed: a sentinel directory next to it, which the hostile paths aim at,
 * is byte-for-byte as it was.
 *
 * Two cases are parser differentials found while building this corpus: a hardlink carrying a
 * size (GNU tar ignores it and reads the "data" as the next member, which tar-stream skips) and
 * a size field GNU tar reads differently from tar-stream; both hide a device node from a check
 * that only used tar-stream. The check now also compares GNU tar's own listing.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { after, before, describe, test } from "node:test";
import { StageExecutor } from "../../agent/executor.js";
import { sha256 } from "../../shared/digest.js";
import { StagefarmError } from "../../shared/errors.js";
import { silentLogger } from "../../shared/log.js";
import { packTreeToFile, unpackBlob, unpackFile } from "../../shared/pack/index.js";
import type { InputSpec } from "../../shared/pipeline/types.js";
import { FsArtifactStore } from "../../shared/store/fs-store.js";
import { TestHttpServer } from "../helpers/http-server.js";
import {
  compress,
  dir,
  hardlink,
  longName,
  paxRecords,
  rawHeader,
  regular,
  snapshotTree,
  symlink,
  tarBytes,
  type FixtureEntry,
  type TreeNode,
} from "../helpers/tar-fixtures.js";
import { failure, job, output, pos, shellStage } from "./agent-hardening-helpers.js";

/** One hostile archive: its bytes, the entry a refusal must name (if any), the reason it must give. */
interface HostileCase {
  name: string;
  bytes: Buffer;
  entry?: string;
  reason: RegExp;
}

/** Rewrites `text` into a raw header block at `offset` and fixes its checksum. */
function patchHeader(block: Buffer, offset: number, text: string): Buffer {
  Buffer.from(text, "latin1").copy(block, offset);
  block.write("        ", 148, "ascii");
  let sum = 0;
  for (const b of block.subarray(0, 512)) sum += b;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return block;
}

/** A raw character-device header (c 1 3), the member hidden by the differential cases. */
function hiddenDevice(): Buffer {
  const h = rawHeader("hidden-null", "3");
  patchHeader(h, 329, "0000001\0");
  return patchHeader(h, 337, "0000003\0");
}

const END = Buffer.alloc(1024);

async function zst(entries: FixtureEntry[]): Promise<Buffer> {
  return await compress(await tarBytes(entries), "zstd");
}

async function corpus(sentinel: string, scratch: string): Promise<HostileCase[]> {
  const S = sentinel;
  const keep = join(S, "keep");
  const through = /would be written through the symlink "link"/;
  const escapes = /leads outside the extraction root/;
  const replaces = /would replace the earlier directory "a" with a symlink/;

  const hlWithData = patchHeader(rawHeader("hl", "1", hiddenDevice()), 157, "target\0");
  const badSize = rawHeader("innocent", "0", hiddenDevice());
  patchHeader(badSize, 124, "00000001000x");
  const goodTree = join(scratch, "good-tree");
  await mkdir(join(goodTree, "d"), { recursive: true });
  await writeFile(join(goodTree, "d/data"), randomBytes(200_000));
  const goodZst = join(scratch, "good.tar.zst");
  await packTreeToFile(goodTree, goodZst);
  const cutTar = await tarBytes([regular("big", randomBytes(100_000))]);

  return [
    {
      name: '".." member',
      bytes: await zst([regular("../sentinel/evil", "x")]),
      entry: "../sentinel/evil",
      reason: /has a "\.\." component/,
    },
    {
      name: '".." in a pax path record',
      bytes: await zst([{ name: "innocent", content: "x", pax: { path: "../sentinel/evil" } }]),
      entry: "../sentinel/evil",
      reason: /has a "\.\." component/,
    },
    {
      name: "absolute member",
      bytes: await zst([regular(`${S}/evil`, "x")]),
      entry: `${S}/evil`,
      reason: /absolute path/,
    },
    {
      name: "absolute GNU long name",
      bytes: await zst([longName("L", `${S}/evil`), regular("innocent", "x")]),
      entry: `${S}/evil`,
      reason: /absolute path/,
    },
    {
      name: "absolute symlink, then a write through it",
      bytes: await zst([symlink("link", S), regular("link/evil", "x")]),
      entry: "link/evil",
      reason: through,
    },
    {
      name: "relative symlink, then a write through it",
      bytes: await zst([dir("sub"), symlink("link", "sub"), regular("link/x", "x")]),
      entry: "link/x",
      reason: through,
    },
    {
      name: "symlink, then a hardlink through it",
      bytes: await zst([regular("f", "x"), symlink("link", S), hardlink("link/hl", "f")]),
      entry: "link/hl",
      reason: through,
    },
    {
      name: "relative symlink escaping the root",
      bytes: await zst([dir("a"), symlink("a/l", "../../sentinel")]),
      entry: "a/l",
      reason: escapes,
    },
    {
      name: "relative symlink escaping through another symlink",
      bytes: await zst([dir("d"), symlink("d/up", ".."), symlink("x", "d/up/../sentinel")]),
      entry: "x",
      reason: /leads outside the extraction root \(through the symlink "d\/up"\)/,
    },
    {
      name: "symlink target replaced by a pax linkpath record",
      bytes: await zst([{ name: "s", type: "symlink", linkname: "ok", pax: { linkpath: "../sentinel" } }]),
      entry: "s",
      reason: escapes,
    },
    {
      name: "symlink target from a GNU long link name",
      bytes: await zst([longName("K", "../../sentinel"), symlink("s", "x")]),
      entry: "s",
      reason: escapes,
    },
    {
      name: "hardlink to an absolute path",
      bytes: await zst([hardlink("hl", keep)]),
      entry: "hl",
      reason: /hardlink.*absolute path/,
    },
    {
      name: "hardlink out of the root",
      bytes: await zst([hardlink("hl", "../sentinel/keep")]),
      entry: "hl",
      reason: /hardlink.*"\.\." component/,
    },
    {
      name: "hardlink to a symlink pointing out",
      bytes: await zst([symlink("s", keep), hardlink("hl", "s")]),
      entry: "hl",
      reason: /not an earlier regular file/,
    },
    {
      name: "hardlink to a later member",
      bytes: await zst([hardlink("hl", "later"), regular("later", "x")]),
      entry: "hl",
      reason: /not an earlier regular file/,
    },
    {
      name: "hardlink with a size hiding a device node",
      bytes: await compress(
        Buffer.concat([
          await tarBytes([regular("target", "x")]).then((b) => b.subarray(0, b.length - 1024)),
          hlWithData,
          END,
        ]),
        "zstd",
      ),
      entry: "hl",
      reason: /hardlink with 512 bytes of data/,
    },
    {
      name: "size field GNU tar reads differently, hiding a device node",
      bytes: await compress(Buffer.concat([badSize, END]), "zstd"),
      reason:
        /GNU tar does not read it cleanly \(tar exited with status 2: .*where numeric off_t value expected/,
    },
    {
      name: "obsolete GNU names header (tar-stream and GNU tar disagree)",
      bytes: await zst([{ raw: rawHeader("././@LongLink", "N", Buffer.from("x\0")) }, regular("f", "y")]),
      reason:
        /GNU tar reads member 1 as "\.\/\.\/@LongLink" where the check read "x": the archive's headers are ambiguous/,
    },
    {
      name: "character device node",
      bytes: await zst([{ name: "null", type: "character-device", devmajor: 1, devminor: 3 }]),
      entry: "null",
      reason: /character device node/,
    },
    {
      name: "block device node",
      bytes: await zst([{ name: "sda", type: "block-device", devmajor: 8, devminor: 0 }]),
      entry: "sda",
      reason: /block device node/,
    },
    {
      name: "directory replaced by a symlink, then written through",
      bytes: await zst([dir("a"), symlink("a", join(S, "etc")), regular("a/passwd", "x")]),
      entry: "a",
      reason: replaces,
    },
    {
      name: "implied directory replaced by a symlink",
      bytes: await zst([regular("a/f", "x"), symlink("a", join(S, "etc"))]),
      entry: "a",
      reason: replaces,
    },
    {
      name: "the root replaced by a symlink",
      bytes: await zst([symlink("./", S)]),
      entry: "./",
      reason: /extraction root/,
    },
    {
      name: "pax global header renaming every member",
      bytes: await zst([
        { raw: rawHeader("pax_global_header", "g", paxRecords({ path: "../sentinel/evil" })) },
        regular("innocent", "x"),
      ]),
      entry: "innocent",
      reason: /global header sets path/,
    },
    {
      name: "tar cut in the middle of a member",
      bytes: cutTar.subarray(0, 50_000),
      reason: /is truncated: it ends in the middle of an entry/,
    },
    {
      name: "truncated zstd stream",
      bytes: (await readFile(goodZst)).subarray(0, 100_000),
      reason: /\(zstd\) is truncated or corrupt/,
    },
    { name: "random bytes", bytes: randomBytes(10_000), reason: /is not a tar archive/ },
    {
      name: "gzip of plain text",
      bytes: await compress(Buffer.from("just text\n".repeat(100)), "gzip"),
      reason: /\(gzip\) is not a tar archive/,
    },
    { name: "empty input", bytes: Buffer.alloc(0), reason: /is empty: not a tar archive/ },
    {
      name: "members after the end-of-archive marker",
      bytes: await compress(
        Buffer.concat([await tarBytes([regular("a", "1")]), await tarBytes([regular("b", "2")])]),
        "zstd",
      ),
      reason: /GNU tar stops after 1 of the 2 members the check saw/,
    },
  ];
}

function assertRefusal(err: unknown, c: HostileCase, where: string): asserts err is StagefarmError {
  assert.ok(
    err instanceof StagefarmError,
    `${c.name} (${where}): expected a StagefarmError, got ${String(err)}`,
  );
  assert.equal(err.code, "unsafe_archive", `${c.name} (${where}): ${err.code}: ${err.message}`);
  assert.match(err.message, c.reason, `${c.name} (${where})`);
  if (c.entry !== undefined)
    assert.ok(err.message.includes(`entry "${c.entry}"`), `${c.name} (${where}): ${err.message}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

void describe("hostile archive corpus", { timeout: 300_000 }, () => {
  let root: string;
  let sentinel: string;
  let sentinelBefore: Map<string, TreeNode>;
  let store: FsArtifactStore;
  let http: TestHttpServer;
  let cases: HostileCase[];
  let workRoot: string;
  let executor: StageExecutor;
  const ranMarker = (): string => join(root, "script-ran");

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "sf-hostile-"));
    sentinel = join(root, "sentinel");
    await mkdir(join(sentinel, "etc"), { recursive: true });
    await writeFile(join(sentinel, "keep"), "original\n");
    await writeFile(join(sentinel, "etc/passwd"), "root:x:0:0\n");
    sentinelBefore = await snapshotTree(sentinel);
    await mkdir(join(root, "scratch"));
    cases = await corpus(sentinel, join(root, "scratch"));
    store = await FsArtifactStore.open(join(root, "store"));
    http = await TestHttpServer.start();
    workRoot = join(root, "work");
    executor = new StageExecutor({ store, workRoot, logger: silentLogger(), killGraceMs: 200 });
  });
  after(async () => {
    await http.close();
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  /** Nothing outside the destination changed: the sentinel, and no stray entry in the root. */
  async function assertNothingOutside(what: string): Promise<void> {
    assert.deepEqual(await snapshotTree(sentinel), sentinelBefore, `${what}: the sentinel is untouched`);
    const strays = (await readdir(root)).filter(
      (n) => !/^(dest-\d+|sentinel|scratch|store|work|archives)$/.test(n),
    );
    assert.deepEqual(strays, [], `${what}: nothing was written next to the destination`);
  }

  let destNo = 0;
  async function freshDest(): Promise<string> {
    const dest = join(root, `dest-${++destNo}`);
    await mkdir(dest);
    return dest;
  }

  test("the corpus covers every kind of hostile input the issue names", () => {
    const kinds: Array<[string, RegExp]> = [
      ['".." components', /^"\.\."/],
      ["absolute paths", /^absolute/],
      ["a symlink, then a write through it", /symlink, then a (write|hardlink) through it/],
      ["relative symlink escapes", /relative symlink escaping/],
      ["hardlinks out of the root", /^hardlink (out of the root|to an absolute path)/],
      ["device nodes", /device node$/],
      ["a directory later replaced by a symlink", /directory replaced by a symlink/],
      ["truncated input", /truncated|cut in the middle/],
      ["non-tar input", /random bytes|plain text|empty input/],
    ];
    for (const [kind, re] of kinds)
      assert.ok(
        cases.some((c) => re.test(c.name)),
        `no case for ${kind} in: ${cases.map((c) => c.name).join("; ")}`,
      );
  });

  test("unpackFile refuses every case and writes nothing anywhere", async () => {
    await mkdir(join(root, "archives"), { recursive: true });
    for (const [i, c] of cases.entries()) {
      const file = join(root, "archives", `case-${i}.bin`);
      await writeFile(file, c.bytes);
      const dest = await freshDest();
      const err = await unpackFile(file, dest).then(
        () => assert.fail(`${c.name}: unpackFile accepted it`),
        (e: unknown) => e,
      );
      assertRefusal(err, c, "unpackFile");
      assert.ok(err.message.includes(`archive ${file}`), `${c.name}: names the archive: ${err.message}`);
      assert.deepEqual(await readdir(dest), [], `${c.name}: the destination stays empty`);
      await assertNothingOutside(c.name);
      // An absent destination is not created either.
      const absent = join(root, `dest-${++destNo}`);
      assertRefusal(await unpackFile(file, absent).catch((e: unknown) => e), c, "unpackFile, absent dest");
      assert.equal(await exists(absent), false, `${c.name}: an absent destination is not created`);
    }
  });

  test("unpackBlob refuses every case from the store and writes nothing anywhere", async () => {
    for (const c of cases) {
      const blob = await store.putBlob(Readable.from([c.bytes]));
      const dest = await freshDest();
      const err = await unpackBlob(store, blob.digest, dest).then(
        () => assert.fail(`${c.name}: unpackBlob accepted it`),
        (e: unknown) => e,
      );
      assertRefusal(err, c, "unpackBlob");
      assert.ok(
        err.message.includes(`artifact ${blob.digest}`),
        `${c.name}: names the artifact: ${err.message}`,
      );
      assert.deepEqual(await readdir(dest), [], `${c.name}: the destination stays empty`);
      await assertNothingOutside(c.name);
    }
  });

  test("the executor refuses every case as an upstream tree, a store artifact and a pinned download", async () => {
    const script = `touch ${ranMarker()}`;
    for (const [i, c] of cases.entries()) {
      const blob = await store.putBlob(Readable.from([c.bytes]));
      http.route(`/case-${i}.tar.zst`, { status: 200, body: c.bytes });
      const inputs: Array<[string, InputSpec, string]> = [
        [
          "upstream tree",
          { t: "stage", name: "evil", stage: "up", output: "tree", path: "inputs/evil", unpack: true, pos },
          "(from up.tree)",
        ],
        [
          "store artifact",
          { t: "artifact", name: "evil", digest: blob.digest, path: "inputs/evil", unpack: true, pos },
          `(artifact sha256 ${blob.digest})`,
        ],
        [
          "pinned download",
          {
            t: "source",
            name: "evil",
            source: { url: http.url(`/case-${i}.tar.zst`), sha256: sha256(c.bytes) },
            path: "inputs/evil",
            unpack: true,
            pos,
          },
          `(${http.url(`/case-${i}.tar.zst`)})`,
        ],
      ];
      for (const [kind, input, named] of inputs) {
        const stage = shellStage("consume", script, {
          inputs: [input],
          outputs: [output("o", "inputs/evil")],
        });
        const err = await failure(
          executor.execute(job(stage, { evil: { digest: blob.digest, size: blob.size, kind: "tree" } }), {
            signal: new AbortController().signal,
            jobs: 1,
          }),
        );
        assertRefusal(err, c, kind);
        assert.ok(
          err.message.startsWith(`stage "consume" input "evil" ${named}: `),
          `${c.name} (${kind}): names the stage and input: ${err.message}`,
        );
        assert.equal(await exists(ranMarker()), false, `${c.name} (${kind}): the script never ran`);
        assert.deepEqual(await readdir(workRoot), [], `${c.name} (${kind}): the workspace is removed`);
        await assertNothingOutside(`${c.name} (${kind})`);
      }
    }
  });

  test("a later input cannot be placed through an earlier input's absolute symlink", async () => {
    const first = await store.putBlob(Readable.from([await zst([dir("./"), symlink("./lib", sentinel)])]));
    const second = await store.putBlob(Readable.from([await zst([regular("passwd", "owned\n")])]));
    const stage = shellStage("consume", `touch ${ranMarker()}`, {
      inputs: [
        { t: "stage", name: "one", stage: "up", output: "one", path: "rootfs", unpack: true, pos },
        { t: "stage", name: "two", stage: "up", output: "two", path: "rootfs/lib/etc", unpack: true, pos },
      ],
    });
    const err = await failure(
      executor.execute(
        job(stage, {
          one: { digest: first.digest, size: first.size, kind: "tree" },
          two: { digest: second.digest, size: second.size, kind: "tree" },
        }),
        { signal: new AbortController().signal, jobs: 1 },
      ),
    );
    assert.equal(err.code, "unsafe_archive");
    assert.match(
      err.message,
      /^stage "consume" input "two" \(from up\.two\): "rootfs\/lib\/etc" would be written outside the workspace/,
    );
    assert.equal(await exists(ranMarker()), false);
    assert.deepEqual(await readdir(workRoot), []);
    await assertNothingOutside("cross-input symlink");
  });

  test("control: a benign archive goes through all three paths and reaches the script", async () => {
    const bytes = await zst([dir("./"), regular("./hello", "hi\n")]);
    const blob = await store.putBlob(Readable.from([bytes]));
    http.route("/benign.tar.zst", { status: 200, body: bytes });
    const inputs: InputSpec[] = [
      { t: "stage", name: "a", stage: "up", output: "tree", path: "inputs/a", unpack: true, pos },
      { t: "artifact", name: "b", digest: blob.digest, path: "inputs/b", unpack: true, pos },
      {
        t: "source",
        name: "c",
        source: { url: http.url("/benign.tar.zst"), sha256: sha256(bytes) },
        path: "inputs/c",
        unpack: true,
        pos,
      },
    ];
    const stage = shellStage(
      "consume",
      "mkdir -p out && cat inputs/a/hello inputs/b/hello inputs/c/hello > out/all",
      {
        inputs,
        outputs: [output("all", "out/all", { kind: "file" })],
      },
    );
    const result = await executor.execute(
      job(stage, { a: { digest: blob.digest, size: blob.size, kind: "tree" } }),
      {
        signal: new AbortController().signal,
        jobs: 1,
      },
    );
    const all = result.outputs["all"];
    assert.ok(all !== undefined);
    assert.equal(await text(await store.getBlob(all.digest)), "hi\nhi\nhi\n");
    assert.deepEqual(await readdir(workRoot), []);
    await assertNothingOutside("benign");
  });
});
