// Regenerates proto/gen/ from proto/**/*.proto with buf + protoc-gen-es (both pinned devDependencies).
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
execFileSync(join(bin, "buf"), ["lint"], { cwd: join(root, "proto"), stdio: "inherit" });
execFileSync(join(bin, "buf"), ["generate"], {
  cwd: join(root, "proto"),
  stdio: "inherit",
  env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
});
