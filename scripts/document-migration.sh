#!/usr/bin/env bash
# document-migration for teams used to the script name: every argument is passed through
# (see `document-migration --help`). Uses an installed `document-migration` when there is
# one, otherwise builds and runs this checkout's.
set -euo pipefail
if command -v document-migration >/dev/null 2>&1; then
    exec document-migration "$@"
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" --bin document-migration -- "$@"
