#!/usr/bin/env bash
# create-phase-snapshot for teams used to the script name: every argument is passed through
# (see `create-phase-snapshot --help`). Uses an installed `create-phase-snapshot` when there is
# one, otherwise builds and runs this checkout's.
set -euo pipefail
if command -v create-phase-snapshot >/dev/null 2>&1; then
    exec create-phase-snapshot "$@"
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" --bin create-phase-snapshot -- "$@"
