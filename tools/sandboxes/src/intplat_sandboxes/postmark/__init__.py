"""The Postmark sandbox: a fake Postmark server (port 8102) for tests and `make run`.

`create_postmark_sandbox(server_token=..., senders=[...], webhook_url=...)` returns a
`PostmarkSandbox`; serve its `.app` (with `serve_in_background` in tests) and drive provider-side
events with `deliver`/`bounce`/`complain`/`open`/`click`/`reactivate` plus `flush_webhooks()`.
"""

from ._factory import create_postmark_sandbox
from ._models import Address, Attachment, MessageEvent, StoredMessage, Suppression
from ._sandbox import PostmarkSandbox
from ._validation import TEST_TOKEN, PostmarkError
from ._webhooks import RETRY_DELAYS_SECONDS, WebhookAttempt, WebhookDelivery

__all__ = [
    "RETRY_DELAYS_SECONDS",
    "TEST_TOKEN",
    "Address",
    "Attachment",
    "MessageEvent",
    "PostmarkError",
    "PostmarkSandbox",
    "StoredMessage",
    "Suppression",
    "WebhookAttempt",
    "WebhookDelivery",
    "create_postmark_sandbox",
]
