#!/bin/sh
# Installs the production dependencies of the server for one llama.cpp build, in the current
# directory (which holds package.json and package-lock.json). Used by the Dockerfile and by
# test/container.test.ts, so what the test runs is what the image runs.
#
#   docker/install-runtime.sh cpu    # llama.cpp's CPU build only
#   docker/install-runtime.sh cuda   # llama.cpp's CUDA build (needs the CUDA runtime libraries)
#
# `npm ci --omit=optional` leaves out every optional platform package, node-llama-cpp's GPU builds
# (hundreds of MB) among them; then the packages this image needs are added back at the versions
# the lockfile pins. node-llama-cpp's postinstall must not fetch or compile llama.cpp: the
# prebuilt package added here is what it loads.
set -eu

variant="${1:-cpu}"
case "$variant" in
  cpu) llama_package="@node-llama-cpp/linux-x64" ;;
  cuda) llama_package="@node-llama-cpp/linux-x64-cuda" ;;
  *) echo "usage: $0 cpu|cuda" >&2; exit 2 ;;
esac

# The version the lockfile pins for a package (installed with --no-save, it must match).
pinned() {
  node -e "const p = require('./package-lock.json').packages['node_modules/' + process.argv[1]];
    if (!p) { console.error('not in package-lock.json: ' + process.argv[1]); process.exit(1); }
    console.log(process.argv[1] + '@' + p.version);" "$1"
}

export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
npm ci --omit=dev --omit=optional --no-audit --no-fund
# sqlite-vec's native extension (file search's vector index) is an optional platform package too.
npm install --no-save --omit=dev --no-audit --no-fund --no-package-lock \
  "$(pinned "$llama_package")" "$(pinned sqlite-vec-linux-x64)"
