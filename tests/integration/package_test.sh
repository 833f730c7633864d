#!/usr/bin/env bash
# The Debian package (cmake/Packaging.cmake): builds it with CPack, unpacks it into a scratch
# directory and checks what it ships -- no root, no namespaces, nothing installed.
#
# Checks: the .deb is produced and named mpt_*.deb; its control file names the package and the
# library dependencies (dpkg-shlibdeps); it holds /usr/sbin/mptd, /usr/bin/mpt, the systemd
# unit, the three man pages, README.md and docs/*.md, every file of examples/ (and the bash
# completion when packaging/mpt.bash-completion exists); the shipped mptd accepts every
# shipped example configuration (--check); the shipped unit passes `systemd-analyze verify`
# (ExecStart pointed at the shipped binary in a copy, its man: links resolved against the
# shipped man pages); the shipped man pages format without a groff warning.
# Needs: cmake, dpkg-deb (dpkg), dpkg-shlibdeps (dpkg-dev), file, systemd-analyze (systemd),
# man (man-db: systemd-analyze looks the unit's Documentation= pages up with it), groff
# (groff-base), gzip. A missing tool fails the test: it is never skipped.
# Usage: package_test.sh BUILD_DIR
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)

missing=()
for tool in cmake:cmake dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev file:file \
            systemd-analyze:systemd man:man-db groff:groff-base gzip:gzip; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool%%:*} (Debian package ${tool#*:})")
done
[ ${#missing[@]} -eq 0 ] || fail "missing tools: ${missing[*]}; .ci/setup installs them"

SCRATCH=$(mktemp -d /tmp/mpt-pkg.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# `package` does not build anything first (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY): the programs
# it ships are built here (a no-op when they are up to date).
echo "building the package"
cmake --build "$BUILD" --target mptd mpt >"$SCRATCH/build.log" 2>&1 ||
  { tail -n 40 "$SCRATCH/build.log"; fail "building mptd and mpt failed"; }
rm -f "$BUILD"/mpt_*.deb
cmake --build "$BUILD" --target package >"$SCRATCH/package.log" 2>&1 ||
  { tail -n 40 "$SCRATCH/package.log"; fail "cmake --build $BUILD --target package failed"; }
debs=("$BUILD"/mpt_*.deb)
[ -f "${debs[0]}" ] || { tail -n 20 "$SCRATCH/package.log"; fail "no $BUILD/mpt_*.deb"; }
[ ${#debs[@]} -eq 1 ] || fail "several packages: ${debs[*]}"
DEB=${debs[0]}
echo "  $(basename "$DEB"), $(stat -c %s "$DEB") bytes"

# Control file: the name, and dependencies found by dpkg-shlibdeps (none when it is missing).
[ "$(dpkg-deb -f "$DEB" Package)" = mpt ] || fail "package name is not mpt"
depends=$(dpkg-deb -f "$DEB" Depends)
for lib in libc6 libstdc++6 liburing libssl libboost-program-options libmnl; do
  grep -q "\b$lib" <<<"$depends" || fail "Depends lacks $lib (dpkg-shlibdeps?): '$depends'"
done
echo "  Depends: $depends"

ROOT=$SCRATCH/root
dpkg-deb -x "$DEB" "$ROOT"

# What must be there.
expect=(usr/sbin/mptd usr/bin/mpt lib/systemd/system/mptd@.service
        usr/share/man/man8/mptd.8.gz usr/share/man/man8/mpt.8.gz
        usr/share/man/man5/mpt.conf.5.gz usr/share/doc/mpt/README.md)
for f in "$SRC"/docs/*.md; do expect+=("usr/share/doc/mpt/$(basename "$f")"); done
while IFS= read -r f; do
  expect+=("usr/share/doc/mpt/examples/$f")
done < <(cd "$SRC/examples" && find . -type f -printf '%P\n' | sort)
if [ -f "$SRC/packaging/mpt.bash-completion" ]; then
  expect+=(usr/share/bash-completion/completions/mpt)
fi
absent=()
for f in "${expect[@]}"; do [ -f "$ROOT/$f" ] || absent+=("$f"); done
[ ${#absent[@]} -eq 0 ] || fail "not in the package: ${absent[*]}"
[ -x "$ROOT/usr/sbin/mptd" ] && [ -x "$ROOT/usr/bin/mpt" ] || fail "programs not executable"
echo "  ${#expect[@]} expected files present"

# The shipped programs run, and accept every shipped example configuration.
"$ROOT/usr/sbin/mptd" --help >/dev/null || fail "shipped mptd --help"
[ "$("$ROOT/usr/bin/mpt" genkey | wc -c)" -eq 45 ] || fail "shipped mpt genkey"
examples=0
while IFS= read -r conf; do
  dir=$(dirname "$conf")
  "$ROOT/usr/sbin/mptd" --check --config "$dir" >"$SCRATCH/check.out" 2>&1 ||
    { cat "$SCRATCH/check.out"; fail "shipped mptd --check rejects ${dir#"$ROOT"/}"; }
  examples=$((examples + 1))
done < <(find "$ROOT/usr/share/doc/mpt/examples" -name interface.conf | sort)
[ "$examples" -ge 4 ] || fail "only $examples example configurations found"
echo "  mptd --check accepts the $examples shipped example configurations"

# The unit: ExecStart names the packaged binary; a copy pointed at the unpacked one verifies
# without any message (its Documentation= man pages are looked up in the unpacked ones).
UNIT=$ROOT/lib/systemd/system/mptd@.service
grep -q '^ExecStart=/usr/sbin/mptd --config /etc/mpt/%i$' "$UNIT" ||
  fail "the unit's ExecStart is not '/usr/sbin/mptd --config /etc/mpt/%i'"
mkdir "$SCRATCH/units"
sed "s#/usr/sbin/mptd#$ROOT/usr/sbin/mptd#g" "$UNIT" >"$SCRATCH/units/mptd@.service"
if ! MANPATH=$ROOT/usr/share/man systemd-analyze verify "$SCRATCH/units/mptd@example.service" \
    >"$SCRATCH/verify.out" 2>&1 || [ -s "$SCRATCH/verify.out" ]; then
  cat "$SCRATCH/verify.out"
  fail "systemd-analyze verify complains about mptd@.service"
fi
echo "  systemd-analyze verify: clean"

# Man pages: no groff warning (-ww: all warnings), in the package and in the source.
for page in "$ROOT"/usr/share/man/man*/*.gz; do
  zcat "$page" | groff -man -Tutf8 -ww -z >"$SCRATCH/groff.out" 2>&1 || true
  [ ! -s "$SCRATCH/groff.out" ] || { cat "$SCRATCH/groff.out"; fail "groff warns on $(basename "$page")"; }
  zcat "$page" | cmp -s - "$SRC/docs/man/$(basename "$page" .gz)" ||
    fail "$(basename "$page") differs from docs/man"
done
echo "  man pages: no groff warnings"

echo "PASS: package $(basename "$DEB")"
