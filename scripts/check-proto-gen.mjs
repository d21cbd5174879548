// Fails when proto/gen/ is not what `npm run gen` makes of proto/**/*.proto: regenerates into a
// temp dir with the same pinned buf + protoc-gen-es (offline; no remote plugins) and compares
// every file both ways. Part of `npm run lint`, so `npm test` (and CI) catch a stale or edited
// proto/gen/.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
const committed = join(root, "proto", "gen");

/** Every file under `dir`, as paths relative to `base`, sorted. */
function files(dir, base = dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, base));
    else out.push(relative(base, p));
  }
  return out.sort();
}

const tmp = mkdtempSync(join(tmpdir(), "sf-proto-gen-"));
try {
  execFileSync(join(bin, "buf"), ["generate", "--output", tmp], {
    cwd: join(root, "proto"),
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
  });
  const fresh = join(tmp, "gen");
  const want = files(fresh);
  const have = files(committed);
  const problems = [
    ...want.filter((f) => !have.includes(f)).map((f) => `missing: proto/gen/${f}`),
    ...have.filter((f) => !want.includes(f)).map((f) => `not generated (stale?): proto/gen/${f}`),
    ...want
      .filter((f) => have.includes(f))
      .filter((f) => !readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f))))
      .map((f) => `differs from the generator's output: proto/gen/${f}`),
  ];
  if (problems.length > 0) {
    console.error(
      `proto/gen/ is not what the .proto files generate; run \`npm run gen\` and commit the result:\n  ${problems.join("\n  ")}`,
    );
    process.exitCode = 1;
  } else console.log(`proto/gen/ matches the .proto files (${want.length} files)`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
