"""lexoffice-bridge: every paid Stripe sale booked in Lexoffice exactly once, with its PDF, at the rate limit."""
