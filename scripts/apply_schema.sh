#!/usr/bin/env bash
# apply-schema for teams used to the script name: every argument is passed through
# (see `apply-schema --help`). Uses an installed `apply-schema` when there is one,
# otherwise builds and runs this checkout's.
set -euo pipefail
if command -v apply-schema >/dev/null 2>&1; then
    exec apply-schema "$@"
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" --bin apply-schema -- "$@"
