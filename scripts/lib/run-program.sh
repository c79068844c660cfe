#!/usr/bin/env bash
# run-program.sh PROGRAM [ARGS...]: what every wrapper in scripts/ does. Runs this
# checkout's release build of PROGRAM with ARGS, building it first when it is missing or
# older than the sources, and saying so on stderr, since a first build takes minutes.
# A program of that name on PATH is never used: `reset` and `restore` name other tools
# there, and the checkout's code is the one its README describes.
set -euo pipefail

program=${1:?usage: run-program.sh PROGRAM [ARGS...]}
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/release/$program"

changed() {
    local sources=()
    for path in "$root/src" "$root/Cargo.toml" "$root/Cargo.lock"; do
        [ -e "$path" ] && sources+=("$path")
    done
    [ -n "$(find "${sources[@]}" -newer "$bin" -print -quit 2>/dev/null || true)" ]
}

if [ ! -x "$bin" ]; then
    why="building dbkit (first run, a few minutes)..."
elif changed; then
    why="rebuilding dbkit (the sources changed since the last build)..."
else
    why=""
fi
if [ -n "$why" ]; then
    if command -v cargo >/dev/null 2>&1; then
        echo "$why" >&2
        cargo build --release --quiet --bins --manifest-path "$root/Cargo.toml"
    elif [ -x "$bin" ]; then
        echo "warning: cargo not found: running the build from before the sources changed" >&2
    else
        echo "error: dbkit is not built and cargo is not installed; install Rust (https://rustup.rs), or \`cargo install --path $root\` where it is" >&2
        exit 127
    fi
fi
exec "$bin" "$@"
