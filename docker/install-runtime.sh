#!/bin/sh
# Installs the production dependencies of the server for one llama.cpp build, in the current
# directory (which holds package.json and package-lock.json). Used by the Dockerfile and by
# test/container.test.ts, so what the test runs is what the image runs.
#
#   docker/install-runtime.sh cpu    # llama.cpp's CPU build only
#   docker/install-runtime.sh cuda   # llama.cpp's CUDA build (needs the CUDA runtime libraries)
#
# `npm ci --omit=optional` leaves out every optional platform package, node-llama-cpp's GPU builds
# (hundreds of MB) among them. The two platform packages this image needs are then unpacked into
# node_modules at the versions and integrity hashes the lockfile pins: `npm pack` fetches each
# tarball from the registry. (`npm install <pkg>` would re-resolve the whole tree and bring every
# optional package back.) node-llama-cpp's postinstall must not fetch or compile llama.cpp: the
# prebuilt package unpacked here is what it loads.
set -eu

variant="${1:-cpu}"
case "$variant" in
  cpu) llama_package="@node-llama-cpp/linux-x64" ;;
  cuda) llama_package="@node-llama-cpp/linux-x64-cuda" ;;
  *)
    echo "usage: $0 cpu|cuda" >&2
    exit 2
    ;;
esac

export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
npm ci --omit=dev --omit=optional --no-audit --no-fund

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Unpacks one package, as the lockfile pins it, into node_modules/<name>.
unpack() {
  name="$1"
  spec="$(node -e "const p = require('./package-lock.json').packages['node_modules/' + process.argv[1]];
    if (!p) { console.error('not in package-lock.json: ' + process.argv[1]); process.exit(1); }
    console.log(process.argv[1] + '@' + p.version);" "$name")"
  file="$(cd "$work" && npm pack "$spec" --silent)"
  node -e "const { createHash } = require('node:crypto');
    const want = require('./package-lock.json').packages['node_modules/' + process.argv[1]].integrity;
    const got = 'sha512-' + createHash('sha512').update(require('node:fs').readFileSync(process.argv[2])).digest('base64');
    if (got !== want) { console.error(process.argv[1] + ': integrity ' + got + ' is not the pinned ' + want); process.exit(1); }" \
    "$name" "$work/$file"
  rm -rf "node_modules/$name"
  mkdir -p "node_modules/$name"
  tar -xzf "$work/$file" -C "node_modules/$name" --strip-components=1
}

unpack "$llama_package"
# sqlite-vec's native extension (file search's vector index) is an optional platform package too.
unpack sqlite-vec-linux-x64
