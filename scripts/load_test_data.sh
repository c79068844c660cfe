#!/usr/bin/env bash
# load_test_data.sh: dbkit's `load-test-data` under the name of the script it replaces.
# Every argument is passed through (see `load-test-data --help`; `--reference-only`
# loads only the production-safe reference data). Runs this checkout's build, and builds
# it first when it is missing or older than the sources, saying so
# (scripts/lib/run-program.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/lib/run-program.sh" load-test-data "$@"
