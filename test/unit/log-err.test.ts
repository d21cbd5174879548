/** Logs keep errors as objects: the `err` serializer of createLogger (shared/log.ts). */
import assert from "node:assert/strict";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { StagefarmError } from "../../shared/errors.js";
import { createLogger } from "../../shared/log.js";

async function logged(
  write: (log: ReturnType<typeof createLogger>) => void,
): Promise<Array<Record<string, unknown>>> {
  const dir = await mkdtemp(join(tmpdir(), "sf-log-err-"));
  try {
    const file = join(dir, "log.jsonl");
    const fh = await open(file, "w");
    try {
      write(createLogger({ fd: fh.fd, level: "debug" }));
    } finally {
      await fh.close();
    }
    const text = await readFile(file, "utf8");
    return text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void test("expected trouble is logged as an object with its code, details and causes, without a stack", async () => {
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
  const err = StagefarmError.wrap(StagefarmError.from(refused), "storing log logs/r1/build/1.log", {
    details: { store: "s3://h/b" },
  });
  const [line] = await logged((log) => log.warn({ err, run: "r1" }, "store unavailable"));
  assert.equal(line?.["run"], "r1");
  assert.deepEqual(line?.["err"], {
    type: "StagefarmError",
    message: "storing log logs/r1/build/1.log: connect ECONNREFUSED 127.0.0.1:1",
    code: "unavailable",
    details: { store: "s3://h/b" },
    cause: {
      type: "StagefarmError",
      message: "connect ECONNREFUSED 127.0.0.1:1",
      code: "unavailable",
      cause: { type: "Error", message: "connect ECONNREFUSED 127.0.0.1:1", code: "ECONNREFUSED" },
    },
  });
  assert.ok(!JSON.stringify(line).includes('"stack"'));
});

void test("a bug (internal, or not a StagefarmError) is logged with its stack and its cause", async () => {
  const bug = new TypeError("x is undefined", { cause: new RangeError("index 3") });
  const internal = new StagefarmError("internal", "the engine lost a stage");
  const [a, b] = await logged((log) => {
    log.error({ err: bug }, "a bug");
    log.error({ err: internal }, "internal");
  });
  const e = a?.["err"] as { type?: string; stack?: string; message?: string; cause?: { message?: string } };
  assert.equal(e.type, "TypeError");
  assert.match(e.stack ?? "", /TypeError: x is undefined\n\s+at /);
  assert.equal(e.cause?.message, "index 3");
  assert.match(
    String((b?.["err"] as { stack?: string }).stack),
    /StagefarmError: the engine lost a stage\n\s+at /,
  );
});
