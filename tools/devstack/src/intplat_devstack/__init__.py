"""Local infrastructure for development and tests (not shipped with any service)."""
