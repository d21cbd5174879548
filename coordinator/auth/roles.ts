/**
 * Roles, weakest first; each role may do what the weaker ones may.
 *
 * - viewer: read runs, logs, agents, the cache and metrics; watch runs.
 * - submitter: also submit runs, cancel runs, retry stages.
 * - admin: also drain agents and remove or collect cache entries and binhost packages.
 */
export const ROLES = ["viewer", "submitter", "admin"] as const;
export type Role = (typeof ROLES)[number];

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** Whether a caller with role `have` may do what needs `need`. */
export function roleAllows(have: string, need: Role): boolean {
  return isRole(have) && ROLES.indexOf(have) >= ROLES.indexOf(need);
}
