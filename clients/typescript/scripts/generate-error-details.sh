#!/usr/bin/env bash
# Regenerates src/vendor/google/rpc/error_details_pb.ts from the vendored
# proto/google/rpc/error_details.proto (Google's file, unchanged) with the repo's pinned
# protoc-gen-es (tools/node_modules, installed by scripts/setup.sh).
#
# Why vendored: connect-es reads google.rpc details (ErrorInfo, BadRequest, RetryInfo) with
# ConnectError.findDetails(descriptor), and no package on the npm registry publishes these
# descriptors for @bufbuild/protobuf 2.x. The file is stable upstream; run this only to
# update it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=../../tools/node_modules/.bin
"$tools/buf" generate proto --template '{
  "version": "v2",
  "plugins": [{
    "local": "'"$tools"'/protoc-gen-es",
    "out": "src/vendor",
    "opt": ["target=ts", "import_extension=js"]
  }]
}'
