# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by scripts/machine and scripts/vm: errors, dependencies, and the cached Debian rootfs
# under /var/cache/pyward-machines/ (built with debootstrap, stamped, replaced atomically, locked).
# shellcheck shell=bash

PYWARD_CACHE=${PYWARD_MACHINE_CACHE:-/var/cache/pyward-machines}
PYWARD_MIRROR=${PYWARD_MACHINE_MIRROR:-http://deb.debian.org/debian}
PYWARD_RELEASES=(bookworm trixie)
PYWARD_MIN_FREE_GIB=3

# What goes into every image. Changing this list (or ROOTFS_RECIPE) changes the stamp, so
# cached images built from an older list are detected as stale and rebuilt.
ROOTFS_PACKAGES=(
        systemd systemd-sysv dbus
        python3 python3-numpy python3-matplotlib
        util-linux procps iproute2 kmod
        libsystemd0 libseccomp2 libinih1
        bubblewrap
        tmux
)
# And per release: the standard library's own tests (tests/integration/test_stdlib_suite.py),
# whose package is named for the release's Python.
declare -A RELEASE_PACKAGES=(
        [bookworm]=libpython3.11-testsuite
        [trixie]=libpython3.13-testsuite
)

# What goes into the image of release R: ROOTFS_PACKAGES and R's own, one per line.
release_packages() {
        printf '%s\n' "${ROOTFS_PACKAGES[@]}" ${RELEASE_PACKAGES[$1]:-}
}
# Bump when the way the rootfs is prepared (not just the package list) changes.
ROOTFS_RECIPE=3

# Units that only make noise or wait for things a throwaway machine never has.
MASKED_UNITS=(
        apt-daily.timer apt-daily.service apt-daily-upgrade.timer apt-daily-upgrade.service
        dpkg-db-backup.timer dpkg-db-backup.service
        fstrim.timer fstrim.service e2scrub_all.timer e2scrub_all.service e2scrub_reap.service
        getty.target getty@.service serial-getty@.service console-getty.service
        container-getty@.service
        systemd-networkd-wait-online.service systemd-timesyncd.service
        man-db.timer logrotate.timer
)

PROG=${PROG:-$(basename "$0")}

die() {
        echo "$PROG: error: $*" >&2
        exit 1
}

info() {
        [[ ${PYWARD_QUIET:-0} == 1 ]] || echo "$PROG: $*" >&2
}

need_root() {
        [[ $(id -u) == 0 ]] || die "must run as root (it uses debootstrap, mounts and namespaces)"
}

check_release() {
        local r
        for r in "${PYWARD_RELEASES[@]}"; do
                [[ $1 == "$r" ]] && return 0
        done
        die "unknown release '$1' (choose one of: ${PYWARD_RELEASES[*]})"
}

# need_cmds PACKAGE:COMMAND...: installs the Debian packages whose commands are missing.
need_cmds() {
        local pair pkg cmd missing=()
        for pair in "$@"; do
                pkg=${pair%%:*}
                cmd=${pair#*:}
                command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
        done
        ((${#missing[@]} == 0)) && return 0
        if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
                die "missing packages: ${missing[*]} (install them with: apt-get install -y ${missing[*]})"
        fi
        info "installing missing packages: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 ||
                die "could not install ${missing[*]} (try: apt-get update && apt-get install -y ${missing[*]})"
}

check_free_space() {
        local dir=$1 avail_kib
        mkdir -p "$dir"
        avail_kib=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
        ((avail_kib >= PYWARD_MIN_FREE_GIB * 1024 * 1024)) ||
                die "not enough free disk in $dir: $((avail_kib / 1024)) MiB free, need ${PYWARD_MIN_FREE_GIB} GiB"
}

rootfs_stamp() {
        printf '%s\n' "recipe=$ROOTFS_RECIPE" "release=$1" "mirror=$PYWARD_MIRROR" \
                "packages=$(release_packages "$1" | tr '\n' ' ')" "masked=${MASKED_UNITS[*]}" | sha256sum | cut -d' ' -f1
}

# The image of release R lives in $PYWARD_CACHE/R/{rootfs/,stamp}; the stamp is written last
# and the directory is renamed into place, so a half-built or stale image never has a good stamp.
rootfs_dir() { echo "$PYWARD_CACHE/$1/rootfs"; }

rootfs_is_fresh() {
        local dir=$PYWARD_CACHE/$1
        [[ -d $dir/rootfs/usr/lib/systemd && -f $dir/stamp && $(<"$dir/stamp") == "$(rootfs_stamp "$1")" ]]
}

# lock_cache MODE RELEASE: takes a flock (-s shared while an image is in use, -x while building)
# on the release's lock file, held on fd 9 until the process exits or unlock_cache.
lock_cache() {
        local mode=$1 release=$2
        mkdir -p "$PYWARD_CACHE"
        exec 9>"$PYWARD_CACHE/$release.lock"
        if ! flock -n "$mode" 9; then
                info "waiting for the lock on the $release image ($PYWARD_CACHE/$release.lock)"
                flock "$mode" 9
        fi
}

unlock_cache() {
        exec 9>&-
}

# replace_cached DIR NEW: atomically put the fully built directory NEW at DIR, removing any
# old (stale or broken) DIR. Called with the exclusive lock held.
replace_cached() {
        local dir=$1 new=$2 old
        if [[ -e $dir ]]; then
                old=$(mktemp -d "$dir.old.XXXXXX")
                mv "$dir" "$old/"
                mv "$new" "$dir"
                rm -rf --one-file-system "$old"
        else
                mv "$new" "$dir"
        fi
}

# Leftovers of killed builds: temp dirs nobody holds the lock for. Called with the exclusive lock.
clean_stale_builds() {
        local d
        for d in "$PYWARD_CACHE/$1".tmp.* "$PYWARD_CACHE/$1".old.*; do
                [[ -e $d ]] || continue
                info "removing leftover of an interrupted build: $d"
                rm -rf --one-file-system "$d"
        done
}

build_rootfs_locked() {
        local release=$1 tmp root unit start
        need_cmds debootstrap:debootstrap
        check_free_space "$PYWARD_CACHE"
        clean_stale_builds "$release"
        start=$(date +%s)
        tmp=$(mktemp -d "$PYWARD_CACHE/$release.tmp.XXXXXX")
        root=$tmp/rootfs
        info "building the $release rootfs with debootstrap (about a minute; log: $tmp/debootstrap.log)"
        local pkgs
        pkgs=$(release_packages "$release" | paste -sd,)
        if ! debootstrap --variant=minbase --components=main --include="$pkgs" \
                "$release" "$root" "$PYWARD_MIRROR" >"$tmp/debootstrap.log" 2>&1 9>&-; then
                tail -n 20 "$tmp/debootstrap.log" >&2
                [[ -f $root/debootstrap/debootstrap.log ]] && tail -n 20 "$root/debootstrap/debootstrap.log" >&2
                rm -rf --one-file-system "$tmp"
                die "debootstrap of $release from $PYWARD_MIRROR failed (see above)"
        fi
        for unit in "${MASKED_UNITS[@]}"; do
                ln -sf /dev/null "$root/etc/systemd/system/$unit"
        done
        echo pyward >"$root/etc/hostname"
        # Empty machine-id: every boot of a copy gets its own transient id (nspawn passes one).
        : >"$root/etc/machine-id"
        rm -f "$root/var/lib/dbus/machine-id"
        # Root can log in on a VM's console without a password (throwaway machines, no network).
        sed -i 's/^root:[^:]*:/root::/' "$root/etc/shadow"
        apt-get -o RootDir="$root" clean >/dev/null 2>&1 || rm -rf "$root"/var/cache/apt/archives/*.deb
        rm -rf "$root"/var/lib/apt/lists/*_Packages
        rootfs_stamp "$release" >"$tmp/stamp"
        sync -f "$tmp/stamp"
        replace_cached "$PYWARD_CACHE/$release" "$tmp"
        info "built the $release rootfs in $(($(date +%s) - start)) s: $(rootfs_dir "$release")"
}

# ensure_rootfs RELEASE [force]: builds the image if missing, stale or half-written; returns
# with a SHARED lock held on fd 9, so no build can replace the image while the caller uses it.
ensure_rootfs() {
        local release=$1 force=${2:-}
        need_root
        if [[ -n $force ]] || ! rootfs_is_fresh "$release"; then
                lock_cache -x "$release"
                if [[ -n $force ]] || ! rootfs_is_fresh "$release"; then
                        if [[ -e $PYWARD_CACHE/$release ]]; then
                                info "cached $release image is stale or incomplete; rebuilding"
                        fi
                        build_rootfs_locked "$release"
                fi
                unlock_cache
        fi
        lock_cache -s "$release"
        rootfs_is_fresh "$release" || die "the cached $release image at $PYWARD_CACHE/$release is broken; run: $PROG build --release $release"
}
