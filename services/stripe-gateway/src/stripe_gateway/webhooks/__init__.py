"""Turning a raw Stripe webhook request into an event the gateway records once and publishes."""
