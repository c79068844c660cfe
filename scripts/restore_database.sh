#!/usr/bin/env bash
# dbkit's `restore` for teams used to the script name: every argument is passed through
# (see `restore --help`). Runs this checkout's build: a program named `restore` on PATH may
# be another tool (`reset` is the terminal's), so PATH is not searched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" --bin restore -- "$@"
