#!/usr/bin/env bash
# create-phase-snapshot.sh: dbkit's `create-phase-snapshot` under the name of the script
# it replaces. Every argument is passed through (see `create-phase-snapshot --help`).
# Runs this checkout's build, and builds it first when it is missing or older than the
# sources, saying so (scripts/lib/run-program.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/lib/run-program.sh" create-phase-snapshot "$@"
