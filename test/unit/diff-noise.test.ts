/**
 * The diff's pure parts: noise rules mask only their named fields and never a content
 * difference, portage CONTENTS parsing (paths with spaces, " -> " in symlinks), PF splitting,
 * and the entry comparison's labels.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { test } from "node:test";
import {
  ContentHasher,
  compareEntries,
  contentsPaths,
  splitCpv,
  contentsRecords,
  type Entry,
} from "../../shared/diff/testing.js";
import { compareTrees, summaryLine, type TreeIndex } from "../../shared/diff/index.js";

function hash(path: string, ...chunks: Buffer[]): ReturnType<ContentHasher["finish"]> {
  const h = new ContentHasher(path);
  for (const c of chunks) h.update(c);
  return h.finish();
}

function pyc(mtime: number, code: string, flags = 0): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt16LE(3531, 0);
  head.write("\r\n", 2, "latin1");
  head.writeUInt32LE(flags, 4);
  head.writeUInt32LE(mtime, 8);
  head.writeUInt32LE(code.length, 12);
  return Buffer.concat([head, Buffer.from(code)]);
}

function file(over: Partial<Entry>): Entry {
  return { type: "file", mode: 0o644, uid: 0, gid: 0, mtime: "1700000000", size: 3, sha256: "x", ...over };
}

test("a .pyc header mtime is noise; its code, its source size and a hash-based header are not", () => {
  const a = hash("m.pyc", pyc(1, "code"));
  // Split across chunks at an awkward place: the header is assembled before deciding.
  const whole = pyc(2, "code");
  const b = hash("m.pyc", whole.subarray(0, 5), whole.subarray(5, 13), whole.subarray(13));
  assert.notEqual(a.sha256, b.sha256);
  assert.equal(a.normalized?.rule, "pyc-timestamp");
  assert.equal(a.normalized?.sha256, b.normalized?.sha256);
  assert.notEqual(hash("m.pyc", pyc(1, "codf")).normalized?.sha256, a.normalized?.sha256);
  assert.notEqual(hash("m.pyc", pyc(1, "code!")).normalized?.sha256, a.normalized?.sha256);
  assert.equal(hash("m.pyc", pyc(1, "code", 1)).normalized, undefined, "hash-based .pyc");
  assert.equal(hash("m.py", pyc(1, "code")).normalized, undefined, "not a .pyc path");
});

test("a gzip header mtime is noise, the compressed data is not", () => {
  const gz = (text: string, mtime: number): Buffer => {
    const g = gzipSync(Buffer.from(text));
    g.writeUInt32LE(mtime, 4);
    return g;
  };
  const a = hash("x.gz", gz("hello", 1));
  const b = hash("anything", gz("hello", 99));
  assert.equal(a.normalized?.rule, "gzip-mtime");
  assert.equal(a.normalized?.sha256, b.normalized?.sha256);
  assert.notEqual(hash("x.gz", gz("hellp", 1)).normalized?.sha256, a.normalized?.sha256);
  assert.equal(hash("x.gz", Buffer.from("not gzip at all")).normalized, undefined);
});

test("BUILD_TIME is noise only when it holds a timestamp", () => {
  const p = "var/db/pkg/a/b-1/BUILD_TIME";
  assert.equal(
    hash(p, Buffer.from("1700000000\n")).normalized?.sha256,
    hash(p, Buffer.from("1800000000\n")).normalized?.sha256,
  );
  assert.equal(hash(p, Buffer.from("1700000000 evil\n")).normalized, undefined);
});

test("compareEntries labels noise and keeps real differences unlabelled", () => {
  const n = { rule: "pyc-timestamp" as const, sha256: "same" };
  const d = compareEntries(
    file({ sha256: "a", normalized: n }),
    file({ sha256: "b", normalized: n, mtime: "1700000001" }),
  );
  assert.deepEqual(d, [
    { attr: "content", a: "a", b: "b", noise: "pyc-timestamp" },
    { attr: "mtime", a: "1700000000", b: "1700000001", noise: "mtime" },
  ]);
  const real = compareEntries(
    file({ sha256: "a", normalized: n }),
    file({ sha256: "b", normalized: { ...n, sha256: "other" } }),
  );
  assert.deepEqual(real, [{ attr: "content", a: "a", b: "b" }]);
  const oneSided = compareEntries(file({ sha256: "a", normalized: n }), file({ sha256: "b" }));
  assert.deepEqual(oneSided, [{ attr: "content", a: "a", b: "b" }], "a rule must apply to both sides");
  assert.deepEqual(compareEntries(file({ mode: 0o755, uid: 1 }), file({})), [
    { attr: "mode", a: "0755", b: "0644" },
    { attr: "owner", a: "1:0", b: "0:0" },
  ]);
  assert.deepEqual(compareEntries(file({ mtime: "1700000000.5" }), file({})), [], "second-precision side");
  assert.deepEqual(compareEntries(file({}), { ...file({}), type: "symlink", link: "x" }), [
    { attr: "type", a: "file", b: "symlink" },
  ]);
});

test("CONTENTS: paths with spaces, symlinks split at the first arrow, malformed lines skipped", () => {
  const text = [
    "dir /usr/share/my dir",
    "obj /usr/share/my dir/a b.txt 0123456789abcdef0123456789abcdef 1700000000",
    "sym /usr/bin/py 3 -> python 3.12 1700000000",
    "obj /broken line",
    "fif /run/initctl",
    "",
  ].join("\n");
  assert.deepEqual(contentsPaths(text), [
    "usr/share/my dir",
    "usr/share/my dir/a b.txt",
    "usr/bin/py 3",
    "run/initctl",
  ]);
  assert.deepEqual(contentsRecords(text).get("usr/bin/py 3"), { kind: "sym", target: "python 3.12" });
});

test("PF splitting follows PMS versions", () => {
  assert.deepEqual(splitCpv("dev-lang/python-3.12.8"), { key: "dev-lang/python", version: "3.12.8" });
  assert.deepEqual(splitCpv("sys-libs/glibc-2.40-r5"), { key: "sys-libs/glibc", version: "2.40-r5" });
  assert.deepEqual(splitCpv("dev-libs/foo-bar-1.0_rc2_p3"), {
    key: "dev-libs/foo-bar",
    version: "1.0_rc2_p3",
  });
  assert.deepEqual(splitCpv("virtual/libc-1"), { key: "virtual/libc", version: "1" });
});

test("a version bump, a USE change and a new package show as vdb changes of one package key", () => {
  const side = (label: string, vdb: Record<string, string>): TreeIndex => {
    const entries = new Map<string, Entry>();
    const vdbFiles = new Map<string, Buffer>();
    const vdbEntries = new Set<string>();
    for (const [path, text] of Object.entries(vdb)) {
      entries.set(path, file({ sha256: text, size: text.length }));
      vdbFiles.set(path, Buffer.from(text));
      vdbEntries.add(path.split("/").slice(3, 5).join("/"));
    }
    return { label, entries, vdbFiles, vdbEntries, members: [] };
  };
  const a = side("a", {
    "var/db/pkg/dev-lang/python-3.12.8/USE": "ssl amd64\n",
    "var/db/pkg/dev-lang/python-3.12.8/BUILD_ID": "1\n",
  });
  const b = side("b", {
    "var/db/pkg/dev-lang/python-3.12.9/USE": "amd64\n",
    "var/db/pkg/dev-lang/python-3.12.9/BUILD_ID": "1\n",
    "var/db/pkg/app-misc/new-1/USE": "amd64\n",
  });
  const r = compareTrees(a, b, { normalize: true });
  assert.equal(r.identical, false);
  const python = r.packages.find((g) => g.key === "dev-lang/python");
  assert.equal(python?.cpvA, "dev-lang/python-3.12.8");
  assert.equal(python?.cpvB, "dev-lang/python-3.12.9");
  assert.deepEqual(python?.vdb, [
    { field: "version", a: "3.12.8", b: "3.12.9" },
    { field: "USE", a: "amd64 ssl", b: "amd64" },
  ]);
  const added = r.packages.find((g) => g.key === "app-misc/new");
  assert.deepEqual(added?.vdb, [{ field: "presence", a: "(not installed)", b: "app-misc/new-1" }]);
  assert.match(
    summaryLine(r),
    /^2 packages differ: app-misc\/new-1 \(1 file: only in B; new package\), dev-lang\/python-3\.12\.8 → python-3\.12\.9/,
  );
});
