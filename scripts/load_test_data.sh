#!/usr/bin/env bash
# load-test-data for teams used to the script name: every argument is passed through
# (see `load-test-data --help`; `--reference-only` loads only the production-safe
# reference data). Uses an installed `load-test-data` when there is one, otherwise
# builds and runs this checkout's.
set -euo pipefail
if command -v load-test-data >/dev/null 2>&1; then
    exec load-test-data "$@"
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" --bin load-test-data -- "$@"
