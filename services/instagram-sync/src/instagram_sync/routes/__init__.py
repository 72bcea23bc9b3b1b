"""HTTP routes: the OAuth connect flow, the dashboard API and Meta's webhook."""
