"""The Meta Graph sandbox: a fake Graph API with Facebook Login for Business and Instagram Login (port 8103).

`create_meta_sandbox(app_id=..., app_secret=...)` returns a `MetaSandbox`; serve its `.app` (with
`serve_in_background` in tests). The clock (`/_sandbox/clock`) drives token expiry, the 24 h refresh floor and the
budgets; `/_sandbox/meta/*` scripts logins, invalidates tokens, sets budgets and throttles, and sends webhooks.
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
from ._sandbox import DEFAULT_VERSIONS, MetaSandbox
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
    "create_meta_sandbox",
    "hub_signature",
]
