#!/usr/bin/env bash
# make test: every test. Infrastructure is started by the test session itself (never skipped).
source "$(dirname "$0")/_env.sh"
"${UV[@]}" run --frozen devstack install          # Kafka jars and stripe-mock into the cache (first run only)
"${UV[@]}" run --frozen python scripts/contracts.py check
# pytest exits 5 when it collected no test: that is a failure here too.
exec "${UV[@]}" run --frozen pytest "$@"
