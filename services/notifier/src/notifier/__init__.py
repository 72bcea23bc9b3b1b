"""notifier: transactional e-mail through Postmark from billing events and an internal API."""
