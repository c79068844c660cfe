#!/usr/bin/env bash
# check_drift.sh: dbkit's `check-drift` for the is-the-database-what-the-files-say step.
# Every argument is passed through (see `check-drift --help`). Runs this checkout's
# build, and builds it first when it is missing or older than the sources, saying so
# (scripts/lib/run-program.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/lib/run-program.sh" check-drift "$@"
