/**
 * The domain types of portage binary packages.
 *
 * Glossary
 * - gpkg: the GLEP 78 container, an uncompressed tar `<basename>.gpkg.tar` holding
 *   `<basename>/gpkg-1`, `metadata.tar[.<ext>]`, `image.tar[.<ext>]`, optional `<member>.sig`
 *   detached signatures and a `Manifest` (optionally clear-signed) with one `DATA` line per
 *   other member.
 * - xpak: the legacy format, a compressed tar (`.tbz2`, or `.xpak` with any compressor) with an
 *   XPAK metadata segment appended.
 * - basename: the gpkg's top directory, `<PF>` or `<PF>-<BUILD_ID>`.
 * - member: one file of the gpkg container, named by its path below the basename.
 * - metadata key: a file `metadata/<KEY>` of the metadata archive (gpkg) or an XPAK index entry.
 */

/** Member compression by the file suffix portage uses ("none": a plain `.tar`). */
export type BinpkgCompression = "zst" | "xz" | "bz2" | "gz" | "lz4" | "lz" | "lzo" | "none";

export interface BinpkgMember {
  /** Name below the basename, e.g. "image.tar.zst". */
  name: string;
  size: number;
}

export interface BinpkgInfo {
  format: "gpkg" | "xpak";
  /** <basename> of a gpkg (the top directory inside the tar), e.g. "bash-5.2_p26-1". */
  basename?: string;
  /**
   * Metadata keys exactly as stored, values with trailing newlines removed. Keys whose content
   * is not UTF-8 text (`environment.bz2`) are left out.
   */
  metadata: Record<string, string>;
  category: string;
  pf: string;
  /** `<CATEGORY>/<PF>`. */
  cpv: string;
  buildId?: number;
  buildTime?: number;
  /** Of the whole package file. */
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
  /** Compression of the image member (gpkg) or of the tarball (xpak). */
  compression: BinpkgCompression;
  /** Compression of the metadata member (gpkg; equal to `compression` for xpak). */
  metadataCompression: BinpkgCompression;
  /** gpkg: any `.sig` member or a clear-signed Manifest. Signatures are not verified here. */
  signed: boolean;
  /** gpkg container members in archive order (Manifest included); empty for xpak. */
  members: BinpkgMember[];
}
