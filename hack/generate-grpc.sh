#!/usr/bin/env bash
# Regenerates the model server's gRPC code (Sources/SextantServingGRPC/Generated) from
# Sources/SextantServingGRPC/grpc_predict_v2.proto with Debian's protoc and the protoc plugins of
# the package's own swift-protobuf and grpc-swift-protobuf versions. The output is committed, so a
# build never runs protoc (its build plugin costs ~10 minutes per clean build).
# Needs: protobuf-compiler (hack/apt-packages.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
scratch=${SCRATCH:-.build}
swift build --scratch-path "$scratch" -c release --product protoc-gen-swift
swift build --scratch-path "$scratch" -c release --product protoc-gen-grpc-swift-2
bin=$(swift build --scratch-path "$scratch" -c release --show-bin-path)
dir=Sources/SextantServingGRPC
mkdir -p "$dir/Generated"
protoc --proto_path="$dir" \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
  --swift_out="$dir/Generated" --swift_opt=Visibility=Internal \
  --grpc-swift_out="$dir/Generated" --grpc-swift_opt=Visibility=Internal,Server=true,Client=false \
  grpc_predict_v2.proto
echo "generated:"; ls -l "$dir/Generated"
