#!/usr/bin/env bash
# make chaos: bounded faults under webhook load against a platform it starts itself; results in bench/results/chaos.md.
source "$(dirname "$0")/_env.sh"
exec "${UV[@]}" run --frozen python -m bench.chaos "$@"
