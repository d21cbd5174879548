/** Binary packages collected from a PKGDIR (emerge, catalyst's pkgcache) and the farm binhost seam. */
export { collectBinpkgs, snapshotPkgdir, type CollectedBinpkgs } from "./collect.js";
export {
  binreposConfName,
  type BinhostClient,
  type BinhostPackage,
  type BinhostPublishContext,
} from "./binhost-seam.js";
