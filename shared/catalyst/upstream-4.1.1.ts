/**
 * What Catalyst 4.1.1 accepts, recorded as data so stagefarm can refuse at `validate` time what
 * Catalyst would refuse hours into a run. Upstream facts only; the checks live in ./conf-check.ts
 * and ./spec-keys.ts.
 *
 * Source: https://github.com/gentoo/catalyst, tag `4.1.1` (tag object 9de2eeb2527c…, commit
 * c720a694e1d686595357fad14b32c37af633fcfa, 2026-02-15, the head of catalyst-4.1-stable and the
 * latest 4.x release). Files read: catalyst/main.py (parse_config, `options`/`digests`
 * handling), catalyst/config.py (SpecParser), catalyst/defaults.py (valid_config_file_values,
 * confdefaults), catalyst/support.py (addl_arg_parse, file_locate), catalyst/base/targetbase.py,
 * catalyst/base/stagebase.py (required/valid spec keys, set_valid_build_kernel_vars,
 * setup_environment), catalyst/targets/*.py.
 *
 * How the lists were made: the required/valid sets of every target were read from the sources
 * with Python's `ast`, and checked against the sets catalyst's own code passes to
 * addl_arg_parse (its modules imported with python3, heavy imports stubbed, StageBase.__init__
 * run up to that call). The cases below were run through catalyst's own main.parse_config and
 * SpecParser with python3's tomllib in place of tomli:
 *   options = "pkgcache seedcache"     AttributeError: 'str' object has no attribute 'extend'
 *   (no options key at all)            AttributeError: 'set' object has no attribute 'extend'
 *   digests = "sha512"                 CatalystError: These are not valid digest entries: 1, 2, 5, a, h, s
 *   storedir = "/x/50%"                ValueError: incomplete format (conf strings are %-formatted)
 *   version_stamp: 50%   (spec)        ValueError: incomplete format (a key line's value is %-formatted)
 *   version_stamp: 50%%  (spec)        accepted as "50%"
 *   livecd/isos: x.iso   (spec)        CatalystError: Argument "livecd/isos" not recognized.
 *   all 8 amd64 releng specs at 87eea8b6 and 2542ea88, rendered: accepted
 */

/** The type each catalyst.conf key must have for Catalyst to use it without crashing. */
export type ConfValueType =
  /** A TOML string (used in paths, `%`-formatted with the other settings). */
  | "string"
  /** A list of option names (main.py calls `.extend` on it; a string crashes). */
  | "options"
  /** A list of hashlib algorithm names (main.py makes a set of it; a string becomes its letters). */
  | "digests"
  /** A positive integer (MAKEOPTS `-j<jobs>`). */
  | "positive-integer"
  /** A positive number (MAKEOPTS `-l<load-average>`). */
  | "positive-number";

/** defaults.py `valid_config_file_values` with the type each one needs (from its use). */
export const CONF_KEY_TYPES = {
  binhost: "string",
  compression_mode: "string",
  digests: "digests",
  digest_format: "string",
  distcc_hosts: "string",
  distdir: "string",
  envscript: "string",
  jobs: "positive-integer",
  "load-average": "positive-number",
  options: "options",
  port_logdir: "string",
  repo_basedir: "string",
  repo_openpgp_key_path: "string",
  repo_name: "string",
  repos_storedir: "string",
  sharedir: "string",
  storedir: "string",
  target_distdir: "string",
  target_logdir: "string",
  target_pkgdir: "string",
  /** stagebase.py mounts a tmpfs of `size=<value>G`. */
  var_tmpfs_portage: "positive-integer",
} as const satisfies Record<string, ConfValueType>;

export type ConfKey = keyof typeof CONF_KEY_TYPES;

/**
 * Keys newer Catalyst versions read that 4.1.1 only logs as "Unknown option" (master commit
 * 85dc80bbdbfe, 2026-01-06, adds `jobserver-fifo`).
 */
export const CONF_KEYS_AFTER_4_1_1 = ["jobserver-fifo"] as const;

/** Option names Catalyst tests for (`… in self.settings["options"]`; unknown ones are ignored). */
export const CATALYST_OPTIONS = [
  "autoresume",
  "bindist",
  "ccache",
  "clear-autoresume",
  "distcc",
  "icecream",
  "keepwork",
  "kerncache",
  "pkgcache",
  "purge",
  "seedcache",
  "sticky-config",
  "versioned_cache",
] as const;

/**
 * Digest names every Python has (`hashlib.algorithms_guaranteed`, Python 3.11); main.py checks
 * against `hashlib.algorithms_available`, a superset that depends on the host's OpenSSL.
 */
export const GUARANTEED_DIGESTS = [
  "blake2b",
  "blake2s",
  "md5",
  "sha1",
  "sha224",
  "sha256",
  "sha384",
  "sha3_224",
  "sha3_256",
  "sha3_384",
  "sha3_512",
  "sha512",
  "shake_128",
  "shake_256",
] as const;

/** StageBase: keys every stage-building target requires. */
export const STAGEBASE_REQUIRED = [
  "profile",
  "rel_type",
  "snapshot_treeish",
  "source_subpath",
  "subarch",
  "target",
  "version_stamp",
] as const;

/** StageBase: further keys every stage-building target accepts. */
export const STAGEBASE_VALID = [
  "asflags",
  "binrepo_path",
  "catalyst_use",
  "cbuild",
  "cflags",
  "common_flags",
  "compression_mode",
  "cxxflags",
  "decompressor_search_order",
  "fcflags",
  "fflags",
  "hostuse",
  "install_mask",
  "interpreter",
  "keep_repos",
  "kerncache_path",
  "ldflags",
  "pkgcache_path",
  "portage_confdir",
  "portage_prefix",
  "repos",
] as const;

/**
 * For each name listed in `boot/kernel`, StageBase also accepts `boot/kernel/<name>/<suffix>`
 * (set_valid_build_kernel_vars).
 */
export const KERNEL_KEY_SUFFIXES = [
  "aliases",
  "config",
  "console",
  "distkernel",
  "dracut_args",
  "extraversion",
  "gk_action",
  "gk_kernargs",
  "initramfs_overlay",
  "packages",
  "softlevel",
  "sources",
  "use",
] as const;

export interface TargetKeys {
  /** Whether the target is a StageBase (adds STAGEBASE_REQUIRED/VALID and the kernel keys). */
  stagebase: boolean;
  required: readonly string[];
  valid: readonly string[];
}

/** Each target's own required and further valid keys (netboot also takes `netboot/packages/<atom>/files`). */
export const TARGET_KEYS = {
  stage1: { stagebase: true, required: [], valid: ["chost", "update_seed", "update_seed_command"] },
  stage2: { stagebase: true, required: [], valid: ["chost"] },
  stage3: { stagebase: true, required: [], valid: [] },
  stage4: {
    stagebase: true,
    required: ["stage4/packages"],
    valid: [
      "boot/kernel",
      "stage4/empty",
      "stage4/fsscript",
      "stage4/gk_mainargs",
      "stage4/groups",
      "stage4/linuxrc",
      "stage4/rcadd",
      "stage4/rcdel",
      "stage4/rm",
      "stage4/root_overlay",
      "stage4/ssh_public_keys",
      "stage4/unmerge",
      "stage4/use",
      "stage4/users",
    ],
  },
  "livecd-stage1": { stagebase: true, required: ["livecd/packages"], valid: ["livecd/use"] },
  "livecd-stage2": {
    stagebase: true,
    required: ["boot/kernel"],
    valid: [
      "livecd/bootargs",
      "livecd/cdtar",
      "livecd/depclean",
      "livecd/empty",
      "livecd/fsops",
      "livecd/fsscript",
      "livecd/fstype",
      "livecd/gk_mainargs",
      "livecd/iso",
      "livecd/iso_extra_partition",
      "livecd/linuxrc",
      "livecd/modblacklist",
      "livecd/motd",
      "livecd/overlay",
      "livecd/rcadd",
      "livecd/rcdel",
      "livecd/readme",
      "livecd/rm",
      "livecd/root_overlay",
      "livecd/type",
      "livecd/unmerge",
      "livecd/users",
      "livecd/verify",
      "livecd/volid",
    ],
  },
  embedded: {
    stagebase: true,
    required: [],
    valid: [
      "boot/kernel",
      "embedded/empty",
      "embedded/fs-finish",
      "embedded/fs-ops",
      "embedded/fs-prepare",
      "embedded/fs-type",
      "embedded/linuxrc",
      "embedded/mergeroot",
      "embedded/packages",
      "embedded/rm",
      "embedded/root_overlay",
      "embedded/runscript",
      "embedded/unmerge",
      "embedded/use",
    ],
  },
  netboot: {
    stagebase: true,
    required: ["boot/kernel"],
    valid: [
      "netboot/busybox_config",
      "netboot/extra_files",
      "netboot/linuxrc",
      "netboot/overlay",
      "netboot/packages",
      "netboot/root_overlay",
      "netboot/use",
    ],
  },
  "diskimage-stage1": { stagebase: true, required: ["diskimage/packages"], valid: ["diskimage/use"] },
  "diskimage-stage2": {
    stagebase: true,
    required: ["boot/kernel"],
    valid: [
      "diskimage/bootargs",
      "diskimage/depclean",
      "diskimage/empty",
      "diskimage/fsops",
      "diskimage/fsscript",
      "diskimage/gk_mainargs",
      "diskimage/modblacklist",
      "diskimage/motd",
      "diskimage/qcow2",
      "diskimage/qcow2_efisize",
      "diskimage/qcow2_roottype",
      "diskimage/qcow2_size",
      "diskimage/rcadd",
      "diskimage/rcdel",
      "diskimage/readme",
      "diskimage/rm",
      "diskimage/sshkey",
      "diskimage/type",
      "diskimage/unmerge",
      "diskimage/users",
      "diskimage/verify",
      "diskimage/volid",
    ],
  },
  snapshot: { stagebase: false, required: ["target"], valid: ["snapshot_treeish"] },
} as const satisfies Record<string, TargetKeys>;

export type CatalystTarget = keyof typeof TARGET_KEYS;

/**
 * Files under Catalyst's sharedir that a spec may name (`livecd/cdtar`) and the first Catalyst
 * that ships them. support.file_locate raises "Cannot locate specified cdtar" for a missing one.
 * 4.1.1 ships aboot, arcload and isolinux-elilo cdtars; grub-theme-gentoo_frosted.tar.bz2 came
 * with master commit 11967e5fb04b743fa02cad3ea7f0239896c9fd0a (2026-01-05, "Add grub themes for
 * ISO boot"), after 4.1.1 branched, and is in no release yet. releng names it in
 * installcd-stage2-minimal.spec from 4f5265a6e3b4 (2026-01-16, "GRUB eyecandy") on.
 */
export const SHAREDIR_FILES_SINCE: Readonly<Record<string, { since: string; commit?: string }>> = {
  "livecd/cdtar/aboot-1.0_pre20040408-r2-cdtar.tar.bz2": { since: "2.0" },
  "livecd/cdtar/arcload-0.43-r1.tbz2": { since: "2.0" },
  "livecd/cdtar/isolinux-elilo-memtest86+-cdtar.tar.bz2": { since: "2.0" },
  "livecd/cdtar/grub-theme-gentoo_frosted.tar.bz2": {
    since: "master",
    commit: "11967e5fb04b743fa02cad3ea7f0239896c9fd0a",
  },
};

/** The Catalyst release these facts were read from. */
export const CATALYST_DATA_VERSION = "4.1.1";
