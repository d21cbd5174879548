/**
 * Child-process entry for the store lock tests: takes the filesystem store's lock on one object
 * and holds it until killed.
 *
 *   node lock-holder-main.js STORE_ROOT OBJECT_PATH
 *
 * Prints `HELD` on stdout once the lock is granted.
 */
import { FsArtifactStore } from "../../shared/store/index.js";

const [root, path] = process.argv.slice(2);
if (root === undefined || path === undefined)
  throw new Error("usage: lock-holder-main.js STORE_ROOT OBJECT_PATH");
const store = await FsArtifactStore.open(root);
await store.lockObject(path);
process.stdout.write("HELD\n");
setInterval(() => undefined, 1 << 30);
