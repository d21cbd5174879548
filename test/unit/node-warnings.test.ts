import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../helpers/cli.js";

const script = (install: boolean): string => `
  import { silenceIrrelevantWarnings } from ${JSON.stringify(join(repoRoot, "dist/cli/node-warnings.js"))};
  import tls from "node:tls";
  ${install ? "silenceIrrelevantWarnings(process);" : ""}
  const s = tls.connect({ host: "127.0.0.1", port: 1, servername: "127.0.0.1" });
  s.on("error", () => undefined);
  process.emitWarning("another deprecation", "DeprecationWarning", "DEP0999");
  process.emitWarning("as options", { type: "DeprecationWarning", code: "DEP0123" });
`;

function stderrOf(install: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", script(install)], (err, _stdout, stderr) =>
      err !== null ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stderr),
    );
  });
}

void test("DEP0123 (TLS server name set to an IP by grpc-js) is silenced; other warnings are printed", async () => {
  const without = await stderrOf(false);
  assert.match(
    without,
    /\[DEP0123\]/,
    "Node prints DEP0123 for an IP server name: the filter has something to do",
  );
  const withFilter = await stderrOf(true);
  assert.doesNotMatch(withFilter, /DEP0123/);
  assert.match(withFilter, /\[DEP0999\] DeprecationWarning: another deprecation/);
});
