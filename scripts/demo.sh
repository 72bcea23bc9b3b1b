#!/usr/bin/env bash
# make demo: against a running `make run`, sends signed sample Stripe events and shows what happened downstream.
source "$(dirname "$0")/_env.sh"
exec "${UV[@]}" run --frozen python -m intplat_devstack.demo "$@"
