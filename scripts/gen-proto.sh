#!/usr/bin/env bash
# Regenerates the C code for proto/metastable.proto that is committed in
# Sources/MetastableWire (the .c there, the .h in its include/).
#
#   scripts/gen-proto.sh [output-dir]     default: Sources/MetastableWire
#
# The output is byte-for-byte reproducible: protoc-c sees the proto by its path relative to
# proto/ (it writes that path into a comment, the include guard and the .c's #include), and
# the protoc-c version is pinned, since each version writes its own number into the code.
# The freshness test runs this script into a temporary directory and compares.
set -euo pipefail
cd "$(dirname "$0")/.."

expected="protobuf-c 1.4.1"
if ! command -v protoc-c >/dev/null 2>&1; then
  echo "gen-proto: protoc-c not found (Debian: protobuf-c-compiler; see scripts/setup.sh)" >&2
  exit 1
fi
# The first line only, without `| head -n 1`: head exiting early would SIGPIPE protoc-c,
# and pipefail would make that a failure now and then.
version="$(protoc-c --version 2>&1)"
version="${version%%$'\n'*}"
if [ "$version" != "$expected" ]; then
  echo "gen-proto: need $expected, found '$version'; other versions generate different code" >&2
  exit 1
fi

out="${1:-Sources/MetastableWire}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

protoc-c --proto_path=proto --c_out="$scratch" proto/metastable.proto
mkdir -p "$out/include"
cp "$scratch/metastable.pb-c.c" "$out/metastable.pb-c.c"
cp "$scratch/metastable.pb-c.h" "$out/include/metastable.pb-c.h"
