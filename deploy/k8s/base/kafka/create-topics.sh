#!/bin/sh
# Creates the platform's topics (never broker auto-create), as `devstack` does for `make run`: the registered
# topics and each consumer group's dead-letter topic, min.insync.replicas = min(2, replication factor).
# Run by the kafka-topics Job (Kubernetes) and the kafka-topics container (deploy/compose); a test keeps the list
# equal to intplat_devstack.cli.topic_configs(). Idempotent (--if-not-exists).
set -eu
: "${KAFKA_BOOTSTRAP_SERVERS:?}" "${KAFKA_REPLICATION_FACTOR:?}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
MIN_ISR=$(( KAFKA_REPLICATION_FACTOR < 2 ? KAFKA_REPLICATION_FACTOR : 2 ))

while read -r topic partitions; do
  "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor "$KAFKA_REPLICATION_FACTOR" \
    --config "min.insync.replicas=$MIN_ISR"
done <<TOPICS
stripe.events.v1 6
billing.checkout.completed.v1 6
billing.invoice.paid.v1 6
billing.subscription.updated.v1 6
billing.payment.failed.v1 6
billing.refund.succeeded.v1 6
bookkeeping.document.synced.v1 3
instagram.sync.requested.v1 3
instagram.connection.expiring.v1 3
instagram.post.published.v1 3
instagram-sync.dlq 1
lexoffice-bridge.dlq 1
notifier.dlq 1
TOPICS
