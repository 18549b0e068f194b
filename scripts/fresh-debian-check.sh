#!/usr/bin/env bash
# Release check: the README's `make test` on a fresh Debian 12 (bookworm) root, isolated from
# this machine's services.
#
#   sudo scripts/fresh-debian-check.sh [ROOT_DIR]      (default: /var/tmp/smartlib-fresh-<time>)
#
# 1. debootstraps a minimal bookworm into ROOT_DIR (installs debootstrap here if missing);
# 2. clones the committed HEAD of this checkout into ROOT_DIR/root/smartlib-edge (a clean
#    clone: uncommitted changes are not in it);
# 3. with network: `make setup` inside the root, i.e. scripts/setup.sh, the set-up that
#    `make test` runs first (Debian packages, .venv, pip). A policy-rc.d in the root keeps
#    package scripts from starting services (the root shares this machine's network here);
# 4. without network: `make test` inside the root, in a network namespace of its own with
#    only loopback up, so none of this machine's services (Mosquitto on 1883, PostgreSQL on
#    5432, ...) can answer; the tests must start everything they use.
#
# Prints the tail of each step and a last line `fresh-debian-check: PASS|FAIL ...`; the
# full output is in ROOT_DIR.log. Exit status: make test's.
# Env: DEBIAN_MIRROR (default http://deb.debian.org/debian), KEEP_ROOT=1 keeps ROOT_DIR
# after a pass (after a failure it is always kept, to look into).
# Behind a TLS-intercepting proxy: CA certificates in this machine's
# /usr/local/share/ca-certificates are trusted in the root too (apt and pip), as a site would
# add its own; nothing else of this machine's set-up is carried in.
# Needs root (debootstrap, chroot, namespaces), git, iproute2, about 6 GB of disk and 15-40
# minutes (12 on a 2-core machine: most of it is the test suite).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "fresh-debian-check: must run as root (debootstrap, chroot, unshare)" >&2
  exit 2
fi
for tool in git unshare chroot ip; do
  command -v "$tool" >/dev/null || { echo "fresh-debian-check: needs $tool" >&2; exit 2; }
done
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse HEAD)
ROOT=${1:-/var/tmp/smartlib-fresh-$(date -u +%Y%m%dT%H%M%SZ)}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LOG=$ROOT.log
PROJECT=/root/smartlib-edge

if [ -e "$ROOT" ] && [ -n "$(ls -A "$ROOT" 2>/dev/null)" ]; then
  echo "fresh-debian-check: $ROOT exists and is not empty; give a new folder" >&2
  exit 2
fi
mkdir -p "$ROOT"
: > "$LOG"
if ! git -C "$repo" diff --quiet HEAD; then
  echo "fresh-debian-check: note: uncommitted changes in $repo are NOT checked (clean clone of $commit)"
fi

step() { echo "== $(date -u +%H:%M:%SZ) $*" | tee -a "$LOG"; }

cleanup() {
  if [ "${KEEP_ROOT:-0}" != 1 ]; then
    # Mounts live in the namespaces below and are gone with them; only files remain.
    rm -rf --one-file-system "$ROOT"
  fi
}

if ! command -v debootstrap >/dev/null; then
  step "installing debootstrap on this machine"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

step "debootstrap bookworm (minbase + make) into $ROOT from $MIRROR"
if ! debootstrap --variant=minbase --include=make,ca-certificates bookworm "$ROOT" "$MIRROR" \
    >>"$LOG" 2>&1; then
  tail -20 "$LOG"; echo "fresh-debian-check: FAIL (debootstrap)"; exit 1
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
extra_ca=0
for crt in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$crt" ] || continue
  cp "$crt" "$ROOT/usr/local/share/ca-certificates/"
  extra_ca=1
done
printf '#!/bin/sh\n# fresh-debian-check: package scripts start no services here\nexit 101\n' \
  > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

step "clean clone of $commit into $PROJECT"
git clone -q --no-hardlinks "$repo" "$ROOT$PROJECT" >>"$LOG" 2>&1
git -C "$ROOT$PROJECT" checkout -q --detach "$commit"

# Runs "$@" chrooted in ROOT with /proc, /sys, /dev, /dev/pts, /dev/shm and a fresh /run,
# inside a private mount namespace (the mounts vanish with it).
in_root() {
  local net=$1; shift
  local ns=(--mount --propagation private --fork)
  [ "$net" = nonet ] && ns+=(--net)
  unshare "${ns[@]}" -- bash -euo pipefail -c '
    root=$1; net=$2; shift 2
    if [ "$net" = nonet ]; then ip link set lo up; fi
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
    mount -t tmpfs -o mode=755 run "$root/run"
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
  ' in_root "$ROOT" "$net" "$@"
}

step "make setup inside the root (with network)"
setup_cmd="cd $PROJECT && make setup"
if [ $extra_ca = 1 ]; then
  # pip trusts its own bundle, not the system's: point it at the system's for this step.
  setup_cmd="update-ca-certificates >/dev/null && export PIP_CERT=/etc/ssl/certs/ca-certificates.crt && $setup_cmd"
fi
if ! in_root net bash -c "$setup_cmd" >>"$LOG" 2>&1; then
  tail -30 "$LOG"; echo "fresh-debian-check: FAIL (make setup, see $LOG)"; exit 1
fi
tail -5 "$LOG"

step "make test inside the root (own network namespace: loopback only)"
# The isolation itself is checked: nothing may answer on the machine's service ports.
if ! in_root nonet bash -c 'for p in 1883 5432 8883; do
      if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "isolation: port $p answers"; exit 1; fi
    done; echo "isolation: 127.0.0.1 ports 1883, 5432, 8883 do not answer"' 2>&1 | tee -a "$LOG"; then
  echo "fresh-debian-check: FAIL (the network namespace is not isolated)"; exit 1
fi
set +e
in_root nonet bash -c "cd $PROJECT && make test" >>"$LOG" 2>&1
rc=$?
set -e
tail -40 "$LOG"
summary=$(grep -E '(passed|failed|error).* in [0-9.]+s' "$LOG" | tail -1 | tr -d '=' | xargs)
if [ $rc = 0 ]; then
  cleanup
  echo "fresh-debian-check: PASS ($commit; $summary; log $LOG)"
else
  echo "fresh-debian-check: FAIL (make test exited $rc; $commit; ${summary:-no pytest summary}; log $LOG; root kept in $ROOT)"
fi
exit $rc
