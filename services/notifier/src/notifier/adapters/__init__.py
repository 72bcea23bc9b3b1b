"""Provider adapters: each implements a protocol from `notifier.ports` on the shared resilient HTTP client."""
