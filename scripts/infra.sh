#!/usr/bin/env bash
# make infra: only Kafka (localhost:9092) and PostgreSQL (localhost:55432), in the foreground.
source "$(dirname "$0")/_env.sh"
exec "${UV[@]}" run --frozen devstack infra
