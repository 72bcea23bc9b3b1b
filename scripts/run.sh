#!/usr/bin/env bash
# make run: Kafka, PostgreSQL, stripe-mock, the provider sandboxes and the services, supervised by honcho.
source "$(dirname "$0")/_env.sh"
exec "${UV[@]}" run --frozen devstack run
