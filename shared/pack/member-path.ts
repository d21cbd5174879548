/**
 * Archive member names as the validator sees them: '/'-separated, relative to the extraction
 * root, with empty and "." components dropped ("./usr//bin/" → "usr/bin"; "./" → "", the
 * root itself). A name is refused, not repaired: GNU tar would strip a leading "/" or skip a
 * ".." member and carry on, which hides a hostile archive instead of rejecting it.
 */

/** Why a member name is unacceptable, or undefined when it is fine. */
export function memberNameProblem(name: string): string | undefined {
  if (name.includes("\0")) return "its name contains a NUL byte";
  if (Buffer.byteLength(name) > 4095) return "its path is longer than Linux allows (4095 bytes)";
  if (name.startsWith("/")) return "it has an absolute path";
  if (name.split("/").includes("..")) return 'its path has a ".." component';
  return undefined;
}

/** The normalised form of a name that passed {@link memberNameProblem}. */
export function normaliseMember(name: string): string {
  return name
    .split("/")
    .filter((c) => c !== "" && c !== ".")
    .join("/");
}

/** The parent of a normalised member ("" for a member at the root). */
export function parentOf(member: string): string {
  const i = member.lastIndexOf("/");
  return i < 0 ? "" : member.slice(0, i);
}

/** Every proper ancestor of a normalised member, outermost first ("a/b/c" → "a", "a/b"). */
export function ancestorsOf(member: string): string[] {
  const out: string[] = [];
  let i = member.indexOf("/");
  while (i >= 0) {
    out.push(member.slice(0, i));
    i = member.indexOf("/", i + 1);
  }
  return out;
}

/**
 * Whether a relative symlink target, read lexically from the link's directory (without
 * following other links), climbs above the root: "a/l -> ../../x" does, "a/l -> ../x" does not.
 */
export function lexicallyEscapes(linkMember: string, target: string): boolean {
  let depth =
    linkMember === ""
      ? 0
      : parentOf(linkMember)
          .split("/")
          .filter((c) => c !== "").length;
  for (const c of target.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      depth -= 1;
      if (depth < 0) return true;
    } else depth += 1;
  }
  return false;
}
