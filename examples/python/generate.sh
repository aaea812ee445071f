#!/usr/bin/env bash
# The example uses the framewire package (clients/python), whose stubs are committed; this kept
# entry point writes stubs into a folder of your choice for clients of your own:
# generate.sh [output folder, default examples/python/generated] -> <folder>/framewire/v1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../../clients/python/generate.sh" --out "${1:-$here/generated}"
