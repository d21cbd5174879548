/**
 * The verbatim releng fixture (test/fixtures/releng, see its README): where it is, its eight
 * amd64 specs, and reading its files.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The fixture checkout (read-only by convention). */
export const RELENG_FIXTURE = join(dirname(fileURLToPath(import.meta.url)), "../../../test/fixtures/releng");

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

export async function readFixture(rel: string): Promise<string> {
  return await readFile(join(RELENG_FIXTURE, rel), "utf8");
}
