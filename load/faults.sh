#!/usr/bin/env bash
# Issue 28's fault suite in one command, on SQLite and then on PostgreSQL
# (127.0.0.1:5432, trust auth; skipped with NO_POSTGRES=1):
#
#   bash load/faults.sh          # the tests (~2 minutes)
#   bash load/faults.sh --bench  # and the activation scale benchmark
#
# It runs the unit tables (look-alike addresses, password strength,
# configuration errors) and the integration tests that provoke each fault
# against a running server (tests/api/faults/: slow bodies, unreadable
# requests, a database that cannot grow, a full disk, SIGTERM under load, a
# crashed outbox worker, licenses larger than a cache entry, look-alike
# accounts), with the ones that live beside their topic (charsets other
# than UTF-8, weak passwords on the sign-up form, configuration errors at
# start-up, one Message-ID per message across retries).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PG=${TEST_DATABASE_URL_FOR_FAULTS:-postgres://postgres@127.0.0.1:5432/test}

say() { printf '\n== %s\n' "$*"; }

say "Unit tables: look-alike addresses, password strength, configuration errors"
cargo test --quiet --lib -- domain::email domain::password config:: 2>&1 | grep -E "^test result"

integration=(faults malformed_requests_get_the_right_4xx
    sign_up_errors_are_shown_next_to_the_fields_with_the_input_kept
    bad_configuration_stops_start_up_with_one_clear_line
    a_crashed_worker_loses_nothing_and_failures_end_dead)

say "Faults against a running server, SQLite"
start=$(date +%s)
cargo test --quiet --test api -- "${integration[@]}" 2>&1 | grep -E "^test result|FAILED|panicked"
echo "  $(( $(date +%s) - start )) s"

if [ "${NO_POSTGRES:-0}" != 1 ]; then
    say "Faults against a running server, PostgreSQL"
    start=$(date +%s)
    TEST_DATABASE_URL=$PG cargo test --quiet --test api -- "${integration[@]}" 2>&1 |
        grep -E "^test result|FAILED|panicked"
    echo "  $(( $(date +%s) - start )) s"
fi

if [ "${1:-}" = --bench ]; then
    bash "$ROOT/load/targets.sh" machines
fi
