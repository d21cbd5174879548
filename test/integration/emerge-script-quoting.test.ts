/**
 * The emerge runner's shell text run by real bash: hostile file contents, link targets, env
 * values and paths reach the files and the process exactly, and nothing in them is executed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { invocationScript, writesScript } from "../../agent/runners/emerge/testing.js";

const run = promisify(execFile);

void describe("emerge scripts keep pipeline values inert", () => {
  let dir: string;
  const mark = () => join(dir, "pwned");
  const hostile = (): string[] => [
    `'; touch ${mark()}-q; '`,
    `$(touch ${mark()}-s)`,
    `\`touch ${mark()}-b\``,
    `"; touch ${mark()}-d; "`,
    `back\\slash\nsecond line; touch ${mark()}-n\n`,
    `${"$(touch x) ".repeat(200)}${"y".repeat(10 * 1024)}`,
  ];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sf-emerge-quoting-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("file contents, directory files and link targets are written byte for byte", async () => {
    const values = hostile();
    const files = Object.fromEntries(values.map((v, i) => [`f${i}`, v]));
    const script = writesScript([
      ...values.map((content, i) => ({ t: "file" as const, path: join(dir, `etc/portage/v${i}`), content })),
      { t: "dir", path: join(dir, "etc/portage/env"), files },
      { t: "link", path: join(dir, "etc/portage/make.profile"), target: values[0] ?? "" },
    ]);
    await run("bash", ["-c", script], { cwd: dir });
    for (const [i, v] of values.entries())
      assert.equal(await readFile(join(dir, `etc/portage/v${i}`), "utf8"), v);
    for (const [name, v] of Object.entries(files))
      assert.equal(await readFile(join(dir, "etc/portage/env", name), "utf8"), v);
    assert.equal(await readlink(join(dir, "etc/portage/make.profile")), values[0]);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith("pwned")),
      [],
    );
  });

  test("an invocation's env values reach the command exactly", async () => {
    for (const value of hostile()) {
      const script = invocationScript({
        index: 1,
        total: 1,
        command: "printenv",
        args: ["V"],
        env: { V: value },
        shownEnv: {},
        cwd: dir,
      });
      const { stdout } = await run("bash", ["-c", script], { cwd: dir, maxBuffer: 1 << 20 });
      assert.equal(stdout, `${value}\n`);
    }
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith("pwned")),
      [],
    );
  });
});
