#!/usr/bin/env bash
# make bench: benchmarks against real infrastructure they start themselves; results in bench/results/.
source "$(dirname "$0")/_env.sh"
"${UV[@]}" run --frozen devstack install
exec "${UV[@]}" run --frozen python -m bench "$@"
