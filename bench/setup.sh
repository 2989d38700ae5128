#!/usr/bin/env bash
# bench/setup.sh — installs what the benchmarks compare errand with:
#   Debian packages: libuv1-dev, libglib2.0-dev, libtbb-dev (oneTBB), and the
#   toolchain (gcc's OpenMP, libgomp, comes with gcc), cmake, pkg-config,
#   nodejs + npm;
#   npm: piscina, pinned by bench/node/package-lock.json, into
#   bench/node/node_modules (npm ci).
# libdispatch is not packaged in Debian 12 (no libdispatch-dev): the tables
# say so.  Idempotent: does nothing when everything is there.
#
#   bench/setup.sh [--no-apt] [--no-node]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
apt=1 node=1
for a in "$@"; do
  case "$a" in
    --no-apt) apt=0 ;;
    --no-node) node=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

pkgs=(build-essential cmake pkg-config libuv1-dev libglib2.0-dev libtbb-dev nodejs)
if [[ $apt == 1 ]]; then
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  command -v npm >/dev/null || missing+=(npm)
  if ((${#missing[@]})); then
    echo "setup.sh: installing ${missing[*]}" >&2
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    # Debian's npm conflicts with a nodejs that bundles npm: only when needed.
    "${sudo[@]}" apt-get install -y -q -o Dpkg::Use-Pty=0 "${missing[@]}"
  fi
fi

if [[ $node == 1 ]]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "setup.sh: node/npm not found: the piscina rows will say n/a" >&2
  elif [[ ! -f "$here/node/node_modules/piscina/package.json" ||
          "$here/node/package-lock.json" -nt "$here/node/node_modules/.package-lock.json" ]]; then
    echo "setup.sh: npm ci in bench/node (piscina)" >&2
    (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error) ||
      echo "setup.sh: npm ci failed: the piscina rows will say n/a" >&2
  fi
fi
echo "setup.sh: ready" >&2
