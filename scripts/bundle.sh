#!/usr/bin/env bash
# `npm run bundle [-- --arch x64|arm64] [--no-build] [--out DIR]`: the offline bundle of
# docs/deployment.md. --no-build packs dist/ as it is (npm ci's prepare built it); --out writes
# somewhere else than bundles/ (gitignored). Writes:
#   border-gateway-<version>-linux-<arch>.tar.gz         the package: dist/, models/, config/,
#                                                        deploy/, docs/ and node_modules/ with the
#                                                        run-time dependencies only, built for <arch>
#   border-gateway-<version>-linux-<arch>.tar.gz.sha256  sha256sum lines for the archive and the
#                                                        installer (`sha256sum -c` checks both)
#   border-gateway-<version>-install.sh                  deploy/install.sh, to run on the post
#
# A shell script rather than TypeScript: every step is a command an integrator could type (cp,
# npm prune, node-gyp, tar, sha256sum), and this way they read in the order they run.
#
# node_modules comes from this tree's own (`npm ci` made it from the lock), copied and pruned to
# the run-time dependencies: nothing is downloaded, so the bundle has exactly the versions the
# tests ran with. The native parts, and how each gets to <arch>:
#   better-sqlite3          for this machine's arch: the binary `npm ci` built here; for the other
#                           arch: compiled again here with the cross compiler (apt-get install
#                           g++-aarch64-linux-gnu) against this Node's headers (npm config nodedir)
#   @serialport/bindings-cpp  the package's prebuilds/linux-<arch>, the others removed
#   onnxruntime-node        the package's bin/napi-v6/linux/<arch>, the other platforms removed
# Every .node and .so left in the bundle is then checked with `file` to be an ELF of <arch>.
# The bundle runs on the Node major it was built with (the N-API modules do not care; better-
# sqlite3 is built for this Node's ABI): bundle.json records it and install.sh checks it.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "bundle: $*" >&2; exit 1; }

arch=$(node -p process.arch)
build=1
out=bundles
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) [ $# -ge 2 ] || die "--arch needs x64 or arm64"; arch=$2; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    --no-build) build=0; shift ;;
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (valid: --arch x64|arm64, --no-build, --out DIR)" ;;
  esac
done
case "$arch" in
  x64) elf='x86-64'; cross=x86_64-linux-gnu ;;
  arm64) elf='ARM aarch64'; cross=aarch64-linux-gnu ;;
  *) die "--arch must be x64 or arm64, not $arch (onnxruntime-node ships Linux binaries for these two only)" ;;
esac
command -v file >/dev/null || die "needs file(1): apt-get install file"
# Checked before anything is built or staged: another CPU's better-sqlite3 is compiled below.
if [ "$arch" != "$(node -p process.arch)" ]; then
  command -v "$cross-g++" >/dev/null || die "building better-sqlite3 for $arch needs $cross-g++: apt-get install g++-$cross"
fi

version=$(node -p "require('./package.json').version")
name="border-gateway-$version-linux-$arch"
started=$(date +%s)
say() { echo "bundle: [$(( $(date +%s) - started ))s] $*"; }

if [ "$build" = 1 ]; then
  say "npm run build"
  npm run build --silent
fi
[ -f dist/gateway/cli.js ] || die "dist/ is not built (run without --no-build)"
[ -f dist/console/index.html ] || die "dist/console is not built (run without --no-build)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/border-gateway-bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
pkg="$stage/border-gateway"
mkdir "$pkg"
say "staging in $stage"
cp -a package.json package-lock.json README.md SECURITY.md dist models config deploy docs "$pkg/"
chmod 0755 "$pkg/dist/gateway/cli.js" "$pkg/deploy/install.sh"
# config/ ships its schema and examples; its TypeScript is compiled into dist/. The source maps
# point at TypeScript that is not shipped, and nothing here turns them on.
find "$pkg/config" -name '*.ts' -delete
find "$pkg/dist" -name '*.map' -delete
# Through the folder (node_modules may be a symbolic link to a shared install).
mkdir "$pkg/node_modules"
cp -a node_modules/. "$pkg/node_modules/"
say "npm prune --omit=dev (offline, from the copy of node_modules)"
(cd "$pkg" && npm prune --omit=dev --ignore-scripts --offline --no-audit --no-fund --loglevel=error)

modules="$pkg/node_modules"
# onnxruntime-node loads only bin/napi-v6/<platform>/<arch>/ (its lib/binding.js).
ort="$modules/onnxruntime-node/bin/napi-v6"
[ -d "$ort/linux/$arch" ] || die "onnxruntime-node has no linux/$arch binaries"
find "$ort" -mindepth 2 -maxdepth 2 -type d ! -path "$ort/linux/$arch" -exec rm -rf {} +
find "$ort" -mindepth 1 -maxdepth 1 -type d ! -name linux -exec rm -rf {} +
# @serialport/bindings-cpp: node-gyp-build picks prebuilds/<platform>-<arch>/ (glibc or musl file).
serial="$modules/@serialport/bindings-cpp"
[ -d "$serial/prebuilds/linux-$arch" ] || die "@serialport/bindings-cpp has no linux-$arch prebuild"
find "$serial/prebuilds" -mindepth 1 -maxdepth 1 -type d ! -name "linux-$arch" -exec rm -rf {} +
# glibc only: musl (Alpine) is no target, onnxruntime-node has no binary for it.
find "$serial/prebuilds/linux-$arch" -name '*.musl.node' -delete
rm -rf "$serial/build"

sqlite="$modules/better-sqlite3"
if [ "$arch" != "$(node -p process.arch)" ]; then
  nodedir=$(npm config get nodedir 2>/dev/null || true)
  [ -n "$nodedir" ] && [ "$nodedir" != "undefined" ] && [ -f "$nodedir/include/node/node.h" ] \
    || nodedir=$(dirname "$(dirname "$(command -v node)")")
  [ -f "$nodedir/include/node/node.h" ] || die "no Node headers under $nodedir/include/node (set npm config nodedir)"
  gyp=${npm_config_node_gyp:-}
  [ -n "$gyp" ] && [ -f "$gyp" ] || gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$gyp" ] || die "node-gyp not found (npm's own is used)"
  say "compiling better-sqlite3 for $arch with $cross-g++ against the headers in $nodedir (minutes)"
  rm -rf "$sqlite/build"
  (cd "$sqlite" && CC="$cross-gcc" CXX="$cross-g++" LINK="$cross-g++" AR="$cross-ar" \
    node "$gyp" rebuild --release --arch="$arch" --nodedir="$nodedir" --jobs="$(nproc)" --loglevel=error >"$stage/better-sqlite3-build.log" 2>&1) \
    || { tail -30 "$stage/better-sqlite3-build.log" >&2; die "better-sqlite3 did not compile for $arch"; }
fi
[ -f "$sqlite/build/Release/better_sqlite3.node" ] || die "better-sqlite3 is not built (build/Release/better_sqlite3.node)"
# Only the binary is loaded (lib/database.js through `bindings`): sources, objects and SQLite's
# amalgamation (deps/, 9 MB) are build inputs.
find "$sqlite/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$sqlite/build/Release" -mindepth 1 ! -name better_sqlite3.node -exec rm -rf {} +
rm -rf "$sqlite/deps" "$sqlite/src"

say "checking every native file is an ELF for $arch"
natives=$(find "$pkg" -type f \( -name '*.node' -o -name '*.so' -o -name '*.so.*' \) | sort)
for required in better_sqlite3.node onnxruntime_binding.node libonnxruntime.so.1 '@serialport+bindings-cpp'; do
  grep -qF "$required" <<<"$natives" || die "no $required in the bundle"
done
wrong=0
while IFS= read -r native; do
  kind=$(file -b "$native")
  case "$kind" in
    ELF*"$elf"*) echo "  ${native#"$stage/"}: ${kind%%, BuildID*}" ;;
    *) echo "  WRONG ${native#"$stage/"}: $kind" >&2; wrong=1 ;;
  esac
done <<<"$natives"
[ "$wrong" = 0 ] || die "native files of another architecture are in the bundle"

commit=$(git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
cat >"$pkg/bundle.json" <<EOF
{
  "name": "border-gateway",
  "version": "$version",
  "platform": "linux",
  "arch": "$arch",
  "node": { "built": "$(node -p process.version)", "major": $(node -p 'process.versions.node.split(".")[0]'), "abi": $(node -p process.versions.modules) },
  "commit": "$commit",
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF

mkdir -p "$out"
archive="$out/$name.tar.gz"
installer="border-gateway-$version-install.sh"
say "writing $archive"
# Owned by root inside the archive (the post's /opt is root's), sorted, gzip without a timestamp.
tar --create --directory="$stage" --owner=0 --group=0 --numeric-owner --sort=name border-gateway \
  | gzip -n -6 >"$archive.partial"
mv "$archive.partial" "$archive"
install -m 0755 deploy/install.sh "$out/$installer"
(cd "$out" && sha256sum "$name.tar.gz" "$installer" >"$name.tar.gz.sha256")

unpacked=$(du -sm "$pkg" | cut -f1)
modules_mb=$(du -sm "$modules" | cut -f1)
packed=$(( $(stat -c %s "$archive") / 1048576 ))
say "done: $archive ($packed MB; unpacked $unpacked MB, node_modules $modules_mb MB)"
cat "$out/$name.tar.gz.sha256"
