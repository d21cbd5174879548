/**
 * The verbatim releng fixtures (test/fixtures/releng, see its README): the two commits, where
 * each is, its eight amd64 specs, and reading its files.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "../../../test/fixtures/releng");

/** The releng commits held as fixtures: the procedure's (the pipeline's default) and a newer one. */
export const RELENG_COMMITS = {
  procedure: "87eea8b66cef13d62fc8bcf2e27a573e86423b75",
  newer: "2542ea88a4a7627346e357eea330752ab071e796",
} as const;

export type RelengFixture = keyof typeof RELENG_COMMITS;

/** A fixture checkout (read-only by convention). */
export function relengFixture(which: RelengFixture): string {
  return join(FIXTURES, RELENG_COMMITS[which].slice(0, 8));
}

/** The newer checkout, which the tests written before the pin used. */
export const RELENG_FIXTURE = relengFixture("newer");

export const AMD64_SPECS = [
  "stage1-openrc-23.spec",
  "stage1-systemd-23.spec",
  "stage3-openrc-23.spec",
  "stage3-systemd-23.spec",
  "stage3d-openrc-23.spec",
  "stage3d-systemd-23.spec",
  "installcd-stage1.spec",
  "installcd-stage2-minimal.spec",
] as const;

export type Amd64Spec = (typeof AMD64_SPECS)[number];

export function specPath(name: Amd64Spec): string {
  return `releases/specs/amd64/${name}`;
}

export async function readFixture(rel: string, which: RelengFixture = "newer"): Promise<string> {
  return await readFile(join(relengFixture(which), rel), "utf8");
}
