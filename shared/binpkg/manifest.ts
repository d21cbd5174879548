/**
 * The gpkg Manifest (GLEP 78 on GLEP 74): one line per container member except itself,
 * `DATA <name> <size> <HASH> <hex> [<HASH> <hex>…]`, optionally wrapped in an OpenPGP
 * clear-signed message. Parsing takes the signed text out of the wrapper (undoing dash-escapes)
 * without checking the signature; verification compares a member's size and every hash this
 * module knows (BLAKE2B, SHA512), at least one of which must be listed.
 */
import { MANIFEST_HASHES, type MemberDigests } from "./digests.js";

export interface ManifestEntry {
  name: string;
  size: number;
  /** Hash name → hex, as listed (any names, known or not). */
  hashes: Map<string, string>;
}

export interface ParsedManifest {
  entries: Map<string, ManifestEntry>;
  /** The Manifest was an OpenPGP clear-signed message. */
  clearSigned: boolean;
}

const SIGNED_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----";
const SIGNATURE_BEGIN = "-----BEGIN PGP SIGNATURE-----";

/** Parses Manifest text; throws a plain Error describing the first problem. */
export function parseManifest(text: string): ParsedManifest {
  const { body, clearSigned } = unwrapClearSigned(text);
  const entries = new Map<string, ManifestEntry>();
  for (const [i, raw] of body.split("\n").entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const where = `Manifest line ${i + 1}`;
    const f = line.split(/\s+/);
    const [tag, name, size] = f;
    if (tag !== "DATA" || name === undefined || size === undefined)
      throw new Error(`${where} is not a DATA entry: "${line}"`);
    if (!/^\d+$/.test(size)) throw new Error(`${where}: size "${size}" of ${name} is not a number`);
    if (f.length % 2 !== 1) throw new Error(`${where}: hash names and values do not pair up`);
    if (entries.has(name)) throw new Error(`${where}: ${name} is listed twice`);
    const hashes = new Map<string, string>();
    for (let k = 3; k + 1 < f.length; k += 2) hashes.set(f[k] ?? "", (f[k + 1] ?? "").toLowerCase());
    entries.set(name, { name, size: Number(size), hashes });
  }
  return { entries, clearSigned };
}

function unwrapClearSigned(text: string): { body: string; clearSigned: boolean } {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => l.trim() !== "");
  if (start < 0 || lines[start]?.trim() !== SIGNED_BEGIN) return { body: text, clearSigned: false };
  // Armor headers ("Hash: SHA512") run up to the first empty line.
  let i = start + 1;
  while (i < lines.length && lines[i]?.trim() !== "") i++;
  const out: string[] = [];
  for (i++; i < lines.length && lines[i]?.trim() !== SIGNATURE_BEGIN; i++) {
    const l = lines[i] ?? "";
    out.push(l.startsWith("- ") ? l.slice(2) : l);
  }
  return { body: out.join("\n"), clearSigned: true };
}

/** Why `actual` does not match `entry`, or undefined when it does. */
export function manifestMismatch(entry: ManifestEntry, actual: MemberDigests): string | undefined {
  if (entry.size !== actual.size)
    return `size mismatch: the Manifest says ${entry.size} bytes, the member has ${actual.size}`;
  let checked = 0;
  for (const [name, expected] of entry.hashes) {
    if (!MANIFEST_HASHES.has(name)) continue;
    const got = actual.hashes.get(name);
    if (got === undefined) continue;
    if (got !== expected) return `${name} mismatch: the Manifest says ${expected}, the member has ${got}`;
    checked++;
  }
  if (checked === 0)
    return `no supported hash listed (have ${[...entry.hashes.keys()].join(", ") || "none"}; know ${[...MANIFEST_HASHES.keys()].join(", ")})`;
  return undefined;
}

/** One Manifest line for a member, hashes in portage's order (BLAKE2B, SHA512). */
export function manifestLine(name: string, d: MemberDigests): string {
  const hashes = [...MANIFEST_HASHES.keys()].map((h) => `${h} ${d.hashes.get(h) ?? ""}`).join(" ");
  return `DATA ${name} ${d.size} ${hashes}`;
}

/** A line for an entry kept as listed. */
export function entryLine(e: ManifestEntry): string {
  const hashes = [...e.hashes].map(([h, v]) => `${h} ${v}`).join(" ");
  return `DATA ${e.name} ${e.size} ${hashes}`;
}
