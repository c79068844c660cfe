#!/usr/bin/env bash
# er_diagram.sh: dbkit's `er-diagram` for the draw-the-diagram step.
# Every argument is passed through (see `er-diagram --help`). Runs this checkout's
# build, and builds it first when it is missing or older than the sources, saying so
# (scripts/lib/run-program.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/lib/run-program.sh" er-diagram "$@"
