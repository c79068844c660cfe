#!/usr/bin/env bash
# new_migration.sh: dbkit's `new-migration` under the name of the script it replaces.
# Every argument is passed through (see `new-migration --help`). Runs this checkout's
# build, and builds it first when it is missing or older than the sources, saying so
# (scripts/lib/run-program.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/lib/run-program.sh" new-migration "$@"
