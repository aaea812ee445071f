#!/usr/bin/env bash
# Generates the Python gRPC stubs of framewire.v1 from proto/ with Debian's protoc and
# grpc_python_plugin (apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio
# python3-protobuf). Usage: generate.sh [output folder, default examples/python/generated].
# The stubs are not committed: they are generated from proto/, the single source of truth.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto="$(cd "$here/../../proto" && pwd)"
out="${1:-$here/generated}"

for tool in protoc grpc_python_plugin; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found (apt-get install protobuf-compiler protobuf-compiler-grpc)" >&2; exit 1; }
done

mkdir -p "$out"
protoc -I "$proto" \
  --python_out="$out" \
  --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  "$proto"/framewire/v1/*.proto
# Packages, so that `from framewire.v1 import results_pb2` works with $out on sys.path.
touch "$out/framewire/__init__.py" "$out/framewire/v1/__init__.py"
echo "generate.sh: stubs in $out"
