/**
 * The real reference `Packages` index (test/fixtures/binhost/Packages, see the README there) for
 * the index format's unit tests: its text, read on first use, and that text parsed.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parsePackages, type PackagesIndex } from "../../shared/binhost/index.js";

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), "../../../test/fixtures/binhost/Packages");

let cached: string | undefined;

/** The reference index, byte for byte. */
export function referencePackagesText(): string {
  cached ??= readFileSync(FIXTURE, "utf8");
  return cached;
}

/** The reference index parsed (a fresh copy per call). */
export function referencePackages(): PackagesIndex {
  return parsePackages(referencePackagesText(), "test/fixtures/binhost/Packages");
}
