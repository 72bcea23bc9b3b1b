"""HTTP routes of the gateway: Stripe's webhook, internal proxies, operations."""
