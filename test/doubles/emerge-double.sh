#!/bin/bash
# emerge-double.sh: a TEST DOUBLE of Gentoo's `emerge`, for stagefarm's tests only. It is not
# emerge and builds nothing. It reads the configuration emerge reads and writes files where
# emerge would, so tests can check that the emerge runner configured portage and invoked it
# correctly. Plain bash + coreutils + tar, so it also runs inside a Debian chroot without node.
# Written with bash builtins where it can: every process it starts costs time in the tests.
#
# Reads: PORTAGE_CONFIGROOT (default /) etc/portage/{make.conf, make.profile (a link or a
# directory: its make.defaults), package.use, package.mask, package.unmask, package.env,
# env/*, profile/package.provided, binrepos.conf}, each as a file or a directory of files;
# portage's own make.globals (<double's dir>/../cnf/make.globals, as a portage checkout run
# from its bin/ has it, else /usr/share/portage/config/make.globals), when there is one;
# the environment (ROOT, SYSROOT, EPREFIX, USE, FEATURES, MAKEOPTS, EMERGE_DEFAULT_OPTS, PKGDIR,
# FETCHCOMMAND, DISTDIR, SOURCE_DATE_EPOCH).
# Settings: the environment, else make.conf, else make.defaults, else make.globals (portage's
# lookup order; only USE and FEATURES are incremental). Options: EMERGE_DEFAULT_OPTS, then the
# command line, the later one winning (lib/_emerge/main.py); --jobs, --load-average and
# --usepkg as they end up are recorded.
# Fetching (only with a make.globals, which holds portage's default FETCHCOMMAND, wget): an
# atom built from source needs <pn>-<ver>.tar.gz in DISTDIR; when it is not there the first
# word of FETCHCOMMAND must be a program on PATH, or the double fails as emerge does
# ("Couldn't download", exit 1). It runs nothing: it says what it would fetch.
# Writes, per atom (EROOT = ROOT + EPREFIX):
#   EROOT/var/db/pkg/<cat>/<pn>-<ver>/{CATEGORY,PF,USE,SLOT,EAPI,BUILD_TIME,repository,CONTENTS}
#   EROOT/usr/share/<pn>/installed-by-double  (key=value lines: what the double saw)
#   EROOT/var/lib/portage/world               (unless --oneshot/-1)
# and with FEATURES=buildpkg or -b/--buildpkg:
#   PKGDIR/<cat>/<pn>/<pn>-<ver>-<build_id>.gpkg.tar (GLEP 78: <pn>-<ver>-<id>/{gpkg-1,
#   metadata.tar, image.tar, Manifest}) and its stanza in PKGDIR/Packages.
# A masked atom (package.mask, not package.unmask) fails as emerge does, with exit status 1.
# Version: from the atom (=cat/pn-1.2), else 1.0. Every decision is one "emerge-double:" line.
set -u -o pipefail
set -f # values hold "*" and "-*": never expand them as file names
export LC_ALL=C

say() { printf 'emerge-double: %s\n' "$*"; }

ENV_USE=${USE-}
ENV_FEATURES=${FEATURES-}
CONFIGROOT=${PORTAGE_CONFIGROOT:-/}
CFG="${CONFIGROOT%/}/etc/portage"
TARGET_ROOT=${ROOT:-/}
EPREFIX_=${EPREFIX:-}
EROOT="${TARGET_ROOT%/}${EPREFIX_}"
[ -n "$EROOT" ] || EROOT=/

say "PORTAGE_CONFIGROOT=$CONFIGROOT ROOT=$TARGET_ROOT SYSROOT=${SYSROOT:-/} EPREFIX=$EPREFIX_"

# CONF_FILES: the files of a config path: the file itself, or a directory's files by name.
conf_files() {
  CONF_FILES=()
  if [ -d "$1" ]; then
    set +f
    local f
    for f in "$1"/*; do [ -f "$f" ] && CONF_FILES+=("$f"); done
    set -f
  elif [ -f "$1" ]; then
    CONF_FILES=("$1")
  fi
}

# CONF_LINES: meaningful lines of a config path, comments and blank lines dropped.
conf_lines() {
  CONF_LINES=()
  conf_files "$1"
  local f line
  for f in "${CONF_FILES[@]}"; do
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%%#*}
      [[ $line =~ ^[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] || continue
      CONF_LINES+=("${BASH_REMATCH[1]}")
    done <"$f"
  done
}

PROFILE_DESC=none
PROFILE_DEFAULTS=
if [ -L "$CFG/make.profile" ]; then
  PROFILE_DESC="link:$(readlink "$CFG/make.profile")"
  say "make.profile is a link to ${PROFILE_DESC#link:}"
elif [ -d "$CFG/make.profile" ]; then
  PROFILE_DESC=dir
  say "make.profile is a directory"
else
  say "no make.profile in $CFG"
fi
if [ -f "$CFG/make.profile/make.defaults" ]; then
  PROFILE_DEFAULTS="$CFG/make.profile/make.defaults"
  say "read make.profile/make.defaults"
elif [ "$PROFILE_DESC" != none ]; then
  say "make.profile has no make.defaults"
fi
MAKECONF="$CFG/make.conf"
conf_files "$MAKECONF"
MAKECONF_FILES=("${CONF_FILES[@]}")
[ ${#MAKECONF_FILES[@]} -gt 0 ] && say "read make.conf"

# make.defaults, then make.conf, sourced in one subshell: P_* (profile) and C_* (make.conf)
# values; USE and FEATURES accumulate over the make.conf files (they are incremental).
# The profile variables portage copies into PKGDIR/Packages' header (binarytree._update_pkgindex_header).
PROFILE_VARS=(IUSE_IMPLICIT USE_EXPAND USE_EXPAND_HIDDEN USE_EXPAND_IMPLICIT USE_EXPAND_UNPREFIXED ELIBC KERNEL
  USE_EXPAND_VALUES_ARCH USE_EXPAND_VALUES_ELIBC USE_EXPAND_VALUES_KERNEL)
VARS=(USE FEATURES MAKEOPTS PKGDIR EMERGE_DEFAULT_OPTS ARCH FETCHCOMMAND DISTDIR "${PROFILE_VARS[@]}")
GLOBALS=
for g in "${0%/*}/../cnf/make.globals" /usr/share/portage/config/make.globals; do
  if [ -f "$g" ]; then
    GLOBALS=$g
    say "read make.globals ($g)"
    break
  fi
done
eval "$(
  set +u
  unset "${VARS[@]}"
  # shellcheck disable=SC1090
  [ -n "$GLOBALS" ] && . "$GLOBALS" >/dev/null 2>&1
  for v in "${VARS[@]}"; do printf 'G_%s=%q\n' "$v" "${!v-}"; done
  unset "${VARS[@]}"
  # shellcheck disable=SC1090
  [ -n "$PROFILE_DEFAULTS" ] && . "$PROFILE_DEFAULTS" >/dev/null 2>&1
  for v in "${VARS[@]}"; do printf 'P_%s=%q\n' "$v" "${!v-}"; done
  unset "${VARS[@]}"
  inc_use= inc_features=
  for f in "${MAKECONF_FILES[@]}"; do
    unset USE FEATURES
    # shellcheck disable=SC1090
    . "$f" >/dev/null 2>&1
    inc_use+=" ${USE-}" inc_features+=" ${FEATURES-}"
  done
  USE=$inc_use FEATURES=$inc_features
  for v in "${VARS[@]}"; do printf 'C_%s=%q\n' "$v" "${!v-}"; done
)"

setting() { # VAR: the environment, else make.conf, else make.defaults, else make.globals
  local var=$1 c="C_$1" p="P_$1" g="G_$1"
  if [ -n "${!var+x}" ]; then
    SETTING=${!var}
  elif [ -n "${!c}" ]; then
    SETTING=${!c}
  elif [ -n "${!p}" ]; then
    SETTING=${!p}
  else
    SETTING=${!g}
  fi
}

# A new PKGDIR/Packages header, keys sorted as portage writes them. Like portage, the profile's
# implicit-IUSE variables (and USE_EXPAND_VALUES_<X>, the X of USE_EXPAND_IMPLICIT) only when the
# profile has IUSE_IMPLICIT.
index_header() {
  local lines=("ARCH: $ARCH_" "PACKAGES: 0" "TIMESTAMP: $1" "VERSION: 0") v k
  setting IUSE_IMPLICIT
  if [ -n "$SETTING" ]; then
    setting USE_EXPAND_IMPLICIT && local implicit=$SETTING
    for v in IUSE_IMPLICIT USE_EXPAND USE_EXPAND_HIDDEN USE_EXPAND_IMPLICIT USE_EXPAND_UNPREFIXED; do
      setting "$v" && [ -n "$SETTING" ] && lines+=("$v: $SETTING")
    done
    for k in $implicit; do
      if [ "$k" != ARCH ] && [[ " ${PROFILE_VARS[*]} " == *" $k "* ]]; then
        setting "$k" && [ -n "$SETTING" ] && lines+=("$k: $SETTING")
      fi
      v=USE_EXPAND_VALUES_$k
      [[ " ${PROFILE_VARS[*]} " == *" $v "* ]] && setting "$v" && [ -n "$SETTING" ] && lines+=("$v: $SETTING")
    done
  fi
  printf '%s\n' "${lines[@]}" | LC_ALL=C sort
}

setting MAKEOPTS && MAKEOPTS_=$SETTING
setting PKGDIR && PKGDIR_=${SETTING:-/var/cache/binpkgs}
setting EMERGE_DEFAULT_OPTS && DEFAULT_OPTS=$SETTING
setting ARCH && ARCH_=${SETTING:-amd64}
setting FETCHCOMMAND && FETCHCOMMAND_=$SETTING
setting DISTDIR && DISTDIR_=${SETTING:-/var/cache/distfiles}
say "MAKEOPTS=$MAKEOPTS_"
say "EMERGE_DEFAULT_OPTS=$DEFAULT_OPTS"
say "PKGDIR=$PKGDIR_"

# Incremental variables (USE, FEATURES): tokens applied in order, "-x" removes, "-*" clears.
declare -A FLAGS
incremental() {
  local t
  for t in "$@"; do
    case $t in
      -\*) FLAGS=() ;;
      -*) unset "FLAGS[${t#-}]" ;;
      *) FLAGS[$t]=1 ;;
    esac
  done
}
# FLAGS_TEXT: the flags, sorted, space-separated.
flags_text() {
  local sorted=() k i j
  for k in "${!FLAGS[@]}"; do
    i=${#sorted[@]}
    sorted+=("$k")
    while [ "$i" -gt 0 ] && [[ ${sorted[$((i - 1))]} > $k ]]; do
      j=$((i - 1))
      sorted[i]=${sorted[j]}
      sorted[j]=$k
      i=$j
    done
  done
  FLAGS_TEXT="${sorted[*]}"
}

FLAGS=()
# shellcheck disable=SC2086
incremental $P_FEATURES $C_FEATURES $ENV_FEATURES
flags_text
FEATURES_=$FLAGS_TEXT
say "FEATURES=$FEATURES_"
BUILDPKG=no
[ -n "${FLAGS[buildpkg]+x}" ] && BUILDPKG=yes

# Arguments: EMERGE_DEFAULT_OPTS first, as emerge does.
# shellcheck disable=SC2206
ARGS=($DEFAULT_OPTS "$@")
ATOMS=()
ONESHOT=no PRETEND=no GETBINPKG=no ONLYDEPS=no USEPKG=no JOBS=1 LOADAVG=none
i=0
while [ $i -lt ${#ARGS[@]} ]; do
  a=${ARGS[$i]}
  case $a in
    --oneshot) ONESHOT=yes ;;
    --pretend) PRETEND=yes ;;
    --buildpkg | --buildpkg=y) BUILDPKG=yes ;;
    --buildpkg=n) BUILDPKG=no ;;
    --getbinpkg | --getbinpkg=y | --getbinpkgonly | --getbinpkgonly=y) GETBINPKG=yes ;;
    --onlydeps) ONLYDEPS=yes ;;
    --usepkg | --usepkg=y | --usepkgonly | --usepkgonly=y) USEPKG=yes ;;
    --usepkg=n | --usepkgonly=n) USEPKG=no ;;
    --jobs=*) JOBS=${a#--jobs=} ;;
    --load-average=*) LOADAVG=${a#--load-average=} ;;
    --jobs | --load-average | --exclude | --usepkg-exclude | --buildpkg-exclude)
      # An option with a separate value (not an atom).
      n=$((i + 1))
      v=unlimited
      if [ $n -lt ${#ARGS[@]} ] && [[ ${ARGS[$n]} != -* ]]; then
        i=$n
        v=${ARGS[$n]}
      fi
      [ "$a" = --jobs ] && JOBS=$v
      [ "$a" = --load-average ] && LOADAVG=$v
      ;;
    --*) ;;
    -*)
      opts=${a#-}
      while [ -n "$opts" ]; do
        c=${opts:0:1}
        opts=${opts:1}
        case $c in
          1) ONESHOT=yes ;;
          p) PRETEND=yes ;;
          b) BUILDPKG=yes ;;
          g | G) GETBINPKG=yes ;;
          o) ONLYDEPS=yes ;;
          k | K) USEPKG=yes ;;
          j)
            JOBS=unlimited
            if [[ $opts =~ ^[0-9]+ ]]; then
              JOBS=${BASH_REMATCH[0]}
              opts=${opts:${#BASH_REMATCH[0]}}
            fi
            ;;
        esac
      done
      ;;
    *) ATOMS+=("$a") ;;
  esac
  i=$((i + 1))
done
say "buildpkg=$BUILDPKG oneshot=$ONESHOT getbinpkg=$GETBINPKG usepkg=$USEPKG jobs=$JOBS load-average=$LOADAVG"

BINREPO_URI=
if [ "$GETBINPKG" = yes ]; then
  conf_files "$CFG/binrepos.conf"
  for f in "${CONF_FILES[@]}"; do
    while IFS= read -r line || [ -n "$line" ]; do
      if [[ $line =~ ^[[:space:]]*sync-uri[[:space:]]*=[[:space:]]*(.*[^[:space:]]) ]]; then
        BINREPO_URI=${BASH_REMATCH[1]}
        say "binrepos.conf: ${f#"$CFG"/} sync-uri=$BINREPO_URI"
      fi
    done <"$f"
  done
  [ -n "$BINREPO_URI" ] || say "--getbinpkg given but no binrepos.conf with a sync-uri: building from source"
fi

# VER_CMP: -1, 0 or 1 comparing two versions (numeric components, a letter, -rN; enough for a double).
ver_cmp() {
  local a=$1 b=$2 ra=0 rb=0
  [[ $a =~ ^(.*)-r([0-9]+)$ ]] && a=${BASH_REMATCH[1]} ra=${BASH_REMATCH[2]}
  [[ $b =~ ^(.*)-r([0-9]+)$ ]] && b=${BASH_REMATCH[1]} rb=${BASH_REMATCH[2]}
  local IFS=._ pa pb k x y
  read -r -a pa <<<"$a"
  read -r -a pb <<<"$b"
  for ((k = 0; k < ${#pa[@]} || k < ${#pb[@]}; k++)); do
    x=${pa[k]:-0} y=${pb[k]:-0}
    if [[ $x =~ ^[0-9]+$ && $y =~ ^[0-9]+$ ]]; then
      ((10#$x < 10#$y)) && VER_CMP=-1 && return
      ((10#$x > 10#$y)) && VER_CMP=1 && return
    else
      [[ $x < $y ]] && VER_CMP=-1 && return
      [[ $x > $y ]] && VER_CMP=1 && return
    fi
  done
  ((ra < rb)) && VER_CMP=-1 && return
  ((ra > rb)) && VER_CMP=1 && return
  VER_CMP=0
}

VER_RE='^(.+)-([0-9][0-9.]*[a-z]?((_(alpha|beta|pre|rc|p)[0-9]*)*)(-r[0-9]+)?)$'

# parse_atom ATOM: sets A_OP, A_CAT, A_PN, A_VER (A_VER empty without an operator).
parse_atom() {
  local s=$1
  s=${s%%\[*}
  s=${s%%::*}
  s=${s%%:*}
  A_OP=
  if [[ $s =~ ^([<>=~]+)(.*)$ ]]; then
    A_OP=${BASH_REMATCH[1]}
    s=${BASH_REMATCH[2]}
  fi
  A_CAT=${s%%/*}
  local rest=${s#*/}
  A_PN=$rest
  A_VER=
  if [ -n "$A_OP" ] && [[ $rest =~ $VER_RE ]]; then
    A_PN=${BASH_REMATCH[1]}
    A_VER=${BASH_REMATCH[2]}
  fi
}

# matches SPEC CAT PN VER: whether a config atom covers the package.
matches() {
  local cat=$2 pn=$3 ver=$4
  parse_atom "$1"
  [[ $A_CAT == "*" || $A_CAT == "$cat" ]] || return 1
  [[ $A_PN == "*" || $A_PN == "$pn" ]] || return 1
  [ -n "$A_OP" ] && [ -n "$A_VER" ] || return 0
  case $A_OP in
    =) if [[ $A_VER == *\* ]]; then [[ $ver == "${A_VER%\*}"* ]]; else [ "$ver" = "$A_VER" ]; fi ;;
    "~") [ "${ver%-r*}" = "${A_VER%-r*}" ] ;;
    ">=") ver_cmp "$ver" "$A_VER" && [ "$VER_CMP" -ge 0 ] ;;
    ">") ver_cmp "$ver" "$A_VER" && [ "$VER_CMP" -gt 0 ] ;;
    "<=") ver_cmp "$ver" "$A_VER" && [ "$VER_CMP" -le 0 ] ;;
    "<") ver_cmp "$ver" "$A_VER" && [ "$VER_CMP" -lt 0 ] ;;
    *) return 1 ;;
  esac
}

# MATCHED: lines of a package.* path whose atom (the first word) covers the package.
lines_for() {
  local cat=$2 pn=$3 ver=$4 line
  MATCHED=()
  conf_lines "$1"
  for line in "${CONF_LINES[@]}"; do
    if matches "${line%%[[:space:]]*}" "$cat" "$pn" "$ver"; then MATCHED+=("$line"); fi
  done
}

# REST: the words after the first one (the atom) of a config line.
rest_of() {
  REST=
  [[ $1 =~ ^[^[:space:]]+[[:space:]]+(.*)$ ]] && REST=${BASH_REMATCH[1]}
  return 0
}

if [ ${#ATOMS[@]} -eq 0 ]; then
  say "nothing to merge"
  exit 0
fi

# PROVIDED_LINE: the profile/package.provided entry for a package, if any.
PROVIDED="$CFG/profile/package.provided"
conf_lines "$PROVIDED"
PROVIDED_LINES=("${CONF_LINES[@]}")
provided_entry() {
  local line
  PROVIDED_LINE=
  for line in "${PROVIDED_LINES[@]}"; do
    [[ $line =~ $VER_RE ]] && [ "${BASH_REMATCH[1]}" = "$1/$2" ] && PROVIDED_LINE=$line
  done
  return 0
}

# Refuse masked atoms before merging anything, as emerge resolves everything first.
for atom in "${ATOMS[@]}"; do
  [[ $atom == @* ]] && continue
  parse_atom "$atom"
  cat=$A_CAT pn=$A_PN ver=${A_VER:-1.0}
  provided_entry "$cat" "$pn"
  [ -n "$PROVIDED_LINE" ] && continue
  lines_for "$CFG/package.mask" "$cat" "$pn" "$ver"
  [ ${#MATCHED[@]} -gt 0 ] || continue
  masked=${MATCHED[0]}
  lines_for "$CFG/package.unmask" "$cat" "$pn" "$ver"
  if [ ${#MATCHED[@]} -gt 0 ]; then
    say "$cat/$pn-$ver: masked by package.mask ($masked) but unmasked by package.unmask (${MATCHED[0]})"
    continue
  fi
  say "$cat/$pn-$ver: masked by package.mask ($masked)"
  printf '\n!!! All ebuilds that could satisfy "%s" have been masked.\n' "$atom"
  printf '!!! One of the following masked packages is required to complete your request:\n'
  printf -- '- %s/%s-%s::gentoo (masked by: package.mask)\n\n' "$cat" "$pn" "$ver"
  exit 1
done

# HASH: the first word of a checksum tool's output for a file.
hash_of() {
  local out
  read -r out _ < <("$1" "$2")
  HASH=$out
}

write_gpkg() { # cat pn ver use build_time image_dir metadata_dir
  local cat=$1 pn=$2 ver=$3 use=$4 build_time=$5 image=$6 meta=$7
  local dir="$PKGDIR_/$cat/$pn" bid=1
  mkdir -p "$dir"
  while [ -e "$dir/$pn-$ver-$bid.gpkg.tar" ]; do bid=$((bid + 1)); done
  local base="$pn-$ver-$bid" work="$meta/../gpkg"
  mkdir -p "$work/$base"
  printf '%s\n' "$bid" >"$meta/metadata/BUILD_ID"
  local tarfmt=(--format=ustar --owner=0 --group=0 --numeric-owner "--mtime=@$build_time")
  tar -C "$meta" "${tarfmt[@]}" --sort=name -cf "$work/$base/metadata.tar" metadata
  tar -C "$image" "${tarfmt[@]}" --sort=name -cf "$work/$base/image.tar" image
  : >"$work/$base/gpkg-1"
  local f size b2 sha512
  for f in gpkg-1 metadata.tar image.tar; do
    read -r size < <(stat -c %s "$work/$base/$f")
    hash_of b2sum "$work/$base/$f" && b2=$HASH
    hash_of sha512sum "$work/$base/$f" && sha512=$HASH
    printf 'DATA %s %s BLAKE2B %s SHA512 %s\n' "$f" "$size" "$b2" "$sha512"
  done >"$work/$base/Manifest"
  local out="$dir/$base.gpkg.tar" rel="$cat/$pn/$base.gpkg.tar"
  # The outer tar: gpkg-1 first, members in this order (GLEP 78).
  tar -C "$work" "${tarfmt[@]}" --no-recursion -cf "$out" \
    "$base/gpkg-1" "$base/metadata.tar" "$base/image.tar" "$base/Manifest"
  local index="$PKGDIR_/Packages" count=0 line md5 sha1 mtime
  if [ ! -f "$index" ]; then
    index_header "$build_time" >"$index"
    say "created $index"
  fi
  hash_of md5sum "$out" && md5=$HASH
  hash_of sha1sum "$out" && sha1=$HASH
  read -r size mtime < <(stat -c '%s %Y' "$out")
  {
    printf '\nBUILD_ID: %s\nBUILD_TIME: %s\nCPV: %s/%s-%s\n' "$bid" "$build_time" "$cat" "$pn" "$ver"
    printf 'DEFINED_PHASES: compile install\nEAPI: 8\nMD5: %s\nPATH: %s\nSHA1: %s\nSIZE: %s\n' "$md5" "$rel" "$sha1" "$size"
    printf 'USE: %s\nMTIME: %s\nREPO: gentoo\n' "$use" "$mtime"
  } >>"$index"
  # The header counts the packages and carries the time of the last write.
  local header=() rest=() in_header=yes
  while IFS= read -r line; do
    if [ $in_header = yes ] && [ -z "$line" ]; then in_header=no; fi
    if [ $in_header = yes ]; then header+=("$line"); else rest+=("$line"); fi
    [[ $line == "CPV: "* ]] && count=$((count + 1))
  done <"$index"
  for i in "${!header[@]}"; do
    case ${header[i]} in
      "PACKAGES: "*) header[i]="PACKAGES: $count" ;;
      "TIMESTAMP: "*) header[i]="TIMESTAMP: $build_time" ;;
    esac
  done
  printf '%s\n' "${header[@]}" "${rest[@]}" >"$index.new" && mv "$index.new" "$index"
  say "wrote binary package $PKGDIR_/$rel"
}

for atom in "${ATOMS[@]}"; do
  if [[ $atom == @* ]]; then
    say "set $atom: the double merges nothing for sets"
    continue
  fi
  parse_atom "$atom"
  cat=$A_CAT pn=$A_PN ver=${A_VER:-1.0}
  provided_entry "$cat" "$pn"
  if [ -n "$PROVIDED_LINE" ]; then
    say "$cat/$pn: provided by profile/package.provided ($PROVIDED_LINE), nothing to merge"
    continue
  fi
  if [ "$ONLYDEPS" = yes ]; then
    say "$cat/$pn-$ver: --onlydeps, the double has no dependencies to merge"
    continue
  fi
  # Effective USE: make.defaults, make.conf, package.use, then the environment.
  FLAGS=()
  # shellcheck disable=SC2086
  incremental $P_USE $C_USE
  lines_for "$CFG/package.use" "$cat" "$pn" "$ver"
  for line in "${MATCHED[@]}"; do
    say "package.use: $line"
    rest_of "$line"
    # shellcheck disable=SC2086
    incremental $REST
  done
  # shellcheck disable=SC2086
  incremental $ENV_USE
  flags_text
  use=$FLAGS_TEXT
  say "$cat/$pn-$ver: USE=\"$use\""
  env_files=
  lines_for "$CFG/package.env" "$cat" "$pn" "$ver"
  for line in "${MATCHED[@]}"; do
    rest_of "$line"
    for name in $REST; do
      if [ -f "$CFG/env/$name" ]; then
        env_files="$env_files env/$name"
        say "package.env: $cat/$pn uses env/$name"
      fi
    done
  done
  if [ -f "$CFG/env/$cat/$pn" ]; then
    env_files="$env_files env/$cat/$pn"
    conf_lines "$CFG/env/$cat/$pn"
    say "env/$cat/$pn applies: ${CONF_LINES[*]}"
  fi
  env_files=${env_files# }
  if [ "$GETBINPKG" = yes ] && [ -n "$BINREPO_URI" ]; then
    say "would fetch $cat/$pn-$ver from $BINREPO_URI (the double builds it instead)"
  fi
  if [ "$PRETEND" = yes ]; then
    say "[ebuild  N    ] $cat/$pn-$ver (--pretend: nothing merged)"
    continue
  fi
  if [ -n "$GLOBALS" ]; then
    distfile=$pn-$ver.tar.gz
    if [ -e "$DISTDIR_/$distfile" ]; then
      say "$distfile is in $DISTDIR_"
    else
      read -r fetcher _ <<<"$FETCHCOMMAND_"
      if [ -z "${fetcher-}" ] || ! command -v "$fetcher" >/dev/null; then
        say "FETCHCOMMAND=$FETCHCOMMAND_: ${fetcher:-no program} is not on PATH"
        printf '!!! Couldn'"'"'t download '"'"'%s'"'"'. Aborting.\n' "$distfile"
        printf '!!! Fetch failed for %s/%s-%s, Log file:\n' "$cat" "$pn" "$ver"
        exit 1
      fi
      say "would fetch $distfile into $DISTDIR_ with $fetcher"
    fi
  fi

  build_time=$EPOCHSECONDS
  vdb="$EROOT/var/db/pkg/$cat/$pn-$ver"
  work="${TMPDIR:-/tmp}/emerge-double.$$.$pn"
  img="$work/image/image${EPREFIX_}/usr/share/$pn"
  m="$work/meta/metadata"
  mkdir -p "$img" "$m" "$vdb" "$EROOT/usr/share/$pn"
  record="$EROOT/usr/share/$pn/installed-by-double"
  text="cpv=$cat/$pn-$ver
config_root=$CONFIGROOT
root=$TARGET_ROOT
sysroot=${SYSROOT:-/}
eprefix=$EPREFIX_
profile=$PROFILE_DESC
use=$use
features=$FEATURES_
makeopts=$MAKEOPTS_
emerge_default_opts=$DEFAULT_OPTS
jobs=$JOBS
load_average=$LOADAVG
usepkg=$USEPKG
source_date_epoch=${SOURCE_DATE_EPOCH-}
env_files=$env_files
args=$*"
  printf '%s\n' "$text" >"$record"
  printf '%s\n' "$text" >"$img/installed-by-double"
  for kv in "CATEGORY=$cat" "PF=$pn-$ver" "USE=$use" "SLOT=0" "EAPI=8" "BUILD_TIME=$build_time" \
    "repository=gentoo" "DEFINED_PHASES=compile install"; do
    printf '%s\n' "${kv#*=}" >"$m/${kv%%=*}"
    printf '%s\n' "${kv#*=}" >"$vdb/${kv%%=*}"
  done
  hash_of md5sum "$record"
  printf 'dir %s/usr/share/%s\nobj %s/usr/share/%s/installed-by-double %s %s\n' \
    "$EPREFIX_" "$pn" "$EPREFIX_" "$pn" "$HASH" "$build_time" >"$vdb/CONTENTS"
  say "installed $cat/$pn-$ver into $EROOT"
  if [ "$ONESHOT" = no ]; then
    world="$EROOT/var/lib/portage/world"
    mkdir -p "${world%/*}"
    listed=no
    if [ -f "$world" ]; then
      while IFS= read -r line; do [ "$line" = "$cat/$pn" ] && listed=yes; done <"$world"
    fi
    [ $listed = yes ] || printf '%s/%s\n' "$cat" "$pn" >>"$world"
    say "added $cat/$pn to the world file"
  fi
  if [ "$BUILDPKG" = yes ]; then
    write_gpkg "$cat" "$pn" "$ver" "$use" "$build_time" "$work/image" "$work/meta"
  fi
  rm -rf "$work"
done
exit 0
