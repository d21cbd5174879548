// Installs the system tools the test suite uses for real, so that `npm test` works on a fresh
// Debian machine: `npm test` runs this first. Tools already on the PATH are left alone; as root
// the missing ones are installed with apt-get, otherwise the exact apt-get line is printed and
// the tests do not start.
//
// What each tool is for: GNU tar + zstd/xz/bzip2/gzip (packing), attr and libcap2-bin (xattrs
// and file capabilities), a C toolchain (the demo pipeline), nats-server (JetStream: the
// distributed farm's queue, state and events), debootstrap (a real Debian chroot for the chroot
// and emerge runner tests), util-linux's unshare/setpriv (mount namespaces), prometheus +
// promtool (the monitoring tests scrape a farm and check the shipped config, rules and
// dashboard), chromium (the web dashboard's browser tests drive it with playwright-core) and
// systemd's systemd-analyze (the deploy tests verify the shipped units).
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** [command, Debian package] */
const TOOLS = [
  ["tar", "tar"],
  ["zstd", "zstd"],
  ["xz", "xz-utils"],
  ["bzip2", "bzip2"],
  ["gzip", "gzip"],
  ["setfattr", "attr"],
  ["setcap", "libcap2-bin"],
  ["gcc", "gcc"],
  ["make", "make"],
  ["nats-server", "nats-server"],
  ["debootstrap", "debootstrap"],
  ["unshare", "util-linux"],
  ["setpriv", "util-linux"],
  // `stagefarm run` on a pseudo-TTY (test/e2e/run-tty.test.ts).
  ["script", "bsdutils"],
  ["prometheus", "prometheus"],
  ["promtool", "prometheus"],
  ["chromium", "chromium"],
  // The deploy tests verify the shipped units with it. (Not openrc: on Debian it conflicts with
  // sysv-rc, so the OpenRC scripts are checked with sh instead where openrc-run is missing.)
  ["systemd-analyze", "systemd"],
  // `stagefarm diff` of two ISO images (test/integration/diff-iso.test.ts).
  ["xorriso", "xorriso"],
  ["unsquashfs", "squashfs-tools"],
];

function onPath(cmd) {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

const missing = [...new Set(TOOLS.filter(([cmd]) => !onPath(cmd)).map(([, pkg]) => pkg))];
if (missing.length === 0) process.exit(0);

const line = `apt-get update && apt-get install -y ${missing.join(" ")}`;
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (!isRoot || !onPath("apt-get")) {
  console.error(`test-deps: the tests need system packages that are missing: ${missing.join(" ")}`);
  console.error(
    onPath("apt-get")
      ? `test-deps: install them as root, then run the tests again:\n  ${line}`
      : "test-deps: this is not a Debian-like system (no apt-get): install the equivalent packages",
  );
  process.exit(1);
}

console.error(`test-deps: installing ${missing.join(" ")}`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
for (const args of [
  ["update", "-qq"],
  ["install", "-y", "-qq", ...missing],
]) {
  const r = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
  if (r.status !== 0) {
    console.error(
      `test-deps: apt-get ${args[0]} failed (exit ${r.status ?? r.signal}); run by hand:\n  ${line}`,
    );
    process.exit(1);
  }
}
const still = TOOLS.filter(([cmd]) => !onPath(cmd)).map(([cmd]) => cmd);
if (still.length > 0) {
  console.error(`test-deps: still missing after apt-get: ${still.join(" ")}`);
  process.exit(1);
}
