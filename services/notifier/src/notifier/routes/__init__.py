"""HTTP routes: the internal e-mail API, message lookup for support staff, Postmark's webhooks."""
