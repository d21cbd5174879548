import { randomBytes } from "node:crypto";

/** A sortable, readable run id: `r20261126-013045-9f3a`. */
export function newRunId(now = new Date()): string {
  const iso = now.toISOString(); // 2026-11-26T01:30:45.123Z
  const date = iso.slice(0, 10).replaceAll("-", "");
  const time = iso.slice(11, 19).replaceAll(":", "");
  return `r${date}-${time}-${randomBytes(2).toString("hex")}`;
}
