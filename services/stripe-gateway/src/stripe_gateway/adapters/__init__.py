"""Provider adapters of the gateway (one per vendor)."""
