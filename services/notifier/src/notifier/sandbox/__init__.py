"""The Postmark sandbox: a fake Postmark server (port 8102) for tests and `make run`."""
