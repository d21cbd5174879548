/** Several processes opening a fresh S3 store at once (a farm starting): all succeed. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseS3Url } from "../../shared/config/s3-url.js";
import { openS3Store } from "../../shared/store/index.js";
import { startS3rver } from "../helpers/s3rver.js";

test("opening one fresh bucket from five stores at once creates it once and opens all", async () => {
  await using s3 = await startS3rver();
  const cfg = parseS3Url(s3.url);
  const stores = await Promise.all(Array.from({ length: 5 }, () => openS3Store(cfg)));
  try {
    const info = await stores[0]?.putBlob((await import("node:stream")).Readable.from([Buffer.from("x")]));
    assert.ok(info !== undefined);
    for (const s of stores) assert.equal((await s.statBlob(info.digest))?.size, 1);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});
