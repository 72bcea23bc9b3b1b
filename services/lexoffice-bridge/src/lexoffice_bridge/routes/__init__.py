"""The bridge's HTTP routes."""
