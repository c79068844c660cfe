#!/usr/bin/env bash
# rollback.sh: dbkit's `rollback` under the name of the script it replaces.
# Every argument is passed through (see `rollback --help`). Runs this checkout's
# build, and builds it first when it is missing or older than the sources, saying so
# (scripts/lib/run-program.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/lib/run-program.sh" rollback "$@"
