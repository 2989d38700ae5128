#!/bin/sh
# build.sh — builds build/errand.node with the system C compiler.
#
#   cd bindings/node && ./build.sh      (CC, CFLAGS, LDFLAGS and NODE_INCLUDE
#                                        may be set in the environment)
#
# A sanitizer build, run with the runtime preloaded into node:
#   CFLAGS="-fsanitize=address,undefined -O1" LDFLAGS="-fsanitize=address,undefined" ./build.sh
#   ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$(gcc -print-file-name=libasan.so) \
#     $(gcc -print-file-name=libubsan.so)" node --test test/*.test.js
#
# No download: node_api.h and uv.h come from the headers installed with
# Node (found next to the node executable, or in /usr/include/node).
# errand's own sources (../../src) are compiled into the addon, so the addon
# does not depend on an installed liberrand.  napi_* and uv_* symbols stay
# undefined: node resolves them when it loads the addon.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cc=${CC:-cc}

find_node_include() {
  if [ -n "${NODE_INCLUDE:-}" ]; then echo "$NODE_INCLUDE"; return; fi
  if command -v node >/dev/null 2>&1; then
    d=$(node -p "require('path').resolve(process.execPath, '../../include/node')" 2>/dev/null || true)
    if [ -n "$d" ] && [ -f "$d/node_api.h" ]; then echo "$d"; return; fi
  fi
  for d in /usr/include/node /usr/local/include/node; do
    if [ -f "$d/node_api.h" ]; then echo "$d"; return; fi
  done
  echo "build.sh: node_api.h not found; set NODE_INCLUDE" >&2
  exit 1
}
inc=$(find_node_include)

mkdir -p "$here/build/obj"
cflags="-std=c11 -D_GNU_SOURCE -O2 -g -fPIC -fvisibility=hidden -pthread ${CFLAGS:-}"
jansson_cflags=$(pkg-config --cflags jansson 2>/dev/null || true)
jansson_libs=$(pkg-config --libs jansson 2>/dev/null || echo -ljansson)

objs=""
# errand itself, as the library build compiles it (its warnings are its own).
for src in $(find "$top/src" -name '*.c' | sort); do
  rel=${src#"$top/src/"}
  obj="$here/build/obj/errand_$(echo "$rel" | tr '/' '_' | sed 's/\.c$/.o/')"
  $cc $cflags $jansson_cflags -I"$top/include" -I"$top/src" -c "$src" -o "$obj"
  objs="$objs $obj"
done
# The addon: public header only (no -I src), warnings as errors.
for src in "$here"/src/*.c; do
  obj="$here/build/obj/addon_$(basename "$src" .c).o"
  $cc $cflags $jansson_cflags -Wall -Wextra -Wshadow -Wstrict-prototypes \
      -Werror -I"$top/include" -I"$inc" -c "$src" -o "$obj"
  objs="$objs $obj"
done
$cc -shared -o "$here/build/errand.node" $objs \
    -Wl,--version-script="$here/exports.map" \
    -pthread $jansson_libs -ldl -lm ${LDFLAGS:-}
echo "built $here/build/errand.node"
