#!/usr/bin/env bash
# make run: Kafka, PostgreSQL, stripe-mock, the provider sandboxes and the services, supervised by honcho.
# make run TRACES=jaeger: the same plus Jaeger (built from its Go module once), every service's spans sent to it.
source "$(dirname "$0")/_env.sh"
case "${TRACES:-}" in
    "") exec "${UV[@]}" run --frozen devstack run ;;
    jaeger) exec "${UV[@]}" run --frozen devstack run --traces ;;
    *) echo "TRACES=$TRACES: the trace viewer is TRACES=jaeger" >&2; exit 2 ;;
esac
