"""The Meta Graph sandbox: a fake Graph API with Facebook Login for Business and Instagram Login (port 8103).

`create_meta_sandbox(app_id=..., app_secret=...)` returns a `MetaSandbox`; serve its `.app` (with
`serve_in_background` in tests). Every host Meta uses (www.facebook.com dialogs, graph.facebook.com,
api.instagram.com, graph.instagram.com) is served under one base URL, `/vNN.0/` optional (accepted versions only).
The sandbox clock (`/_sandbox/clock`, or `FrozenClock` in tests) drives token expiry, the 24 h refresh floor, story
expiry, container processing and the budgets.

Control routes under `/_sandbox/meta` (never logged, faulted or metered; `/_sandbox/docs` lists them with bodies):
`GET world` (fixture ids), `POST accounts` (add many accounts), `PUT login` (who logs in next, declined scopes,
cancel), `GET|POST tokens` (list, mint), `POST tokens/invalidate` (190 with a subcode), `PUT budgets/app`,
`PUT budgets/{account_id}` (budget, window, usage %), `GET usage`, `POST throttle` (codes 4/17/32/613/80002),
`PUT usage-headers`, `PUT accounts/{account_id}/paging` (short and empty pages), `PUT versions`,
`POST stories/{media_id}/expire`, `POST webhooks/subscribe` (hub.challenge), `POST webhooks/story-insights`,
`GET webhooks/deliveries`, `POST webhooks/deliveries/{id}/redeliver`. The framework's `/_sandbox/requests`,
`/_sandbox/faults` (transient errors, 5xx pages, resets, delays), `/_sandbox/clock` and `/_sandbox/reset` apply too.
"""

from ._budget import Budget
from ._factory import create_meta_sandbox
from ._fixtures import (
    ADA_USER_ID,
    BAKERY_ACCOUNT_ID,
    BAKERY_PAGE_ID,
    BO_ACCOUNT_ID,
    BO_PAGE_ID,
    BO_USER_ID,
    CREATOR_ACCOUNT_ID,
    OLD_PAGE_ID,
    TINY_ACCOUNT_ID,
    TINY_PAGE_ID,
)
from ._sandbox import DEFAULT_VERSIONS, MetaSandbox, NextLogin
from ._webhooks import SIGNATURE_HEADER, hub_signature

__all__ = [
    "ADA_USER_ID",
    "BAKERY_ACCOUNT_ID",
    "BAKERY_PAGE_ID",
    "BO_ACCOUNT_ID",
    "BO_PAGE_ID",
    "BO_USER_ID",
    "CREATOR_ACCOUNT_ID",
    "DEFAULT_VERSIONS",
    "OLD_PAGE_ID",
    "SIGNATURE_HEADER",
    "TINY_ACCOUNT_ID",
    "TINY_PAGE_ID",
    "Budget",
    "MetaSandbox",
    "NextLogin",
    "create_meta_sandbox",
    "hub_signature",
]
