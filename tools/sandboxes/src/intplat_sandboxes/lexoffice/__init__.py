"""The Lexoffice sandbox: a fake Lexoffice Public API (port 8101) for tests and `make run`.

`create_lexoffice_sandbox(api_keys=[...])` returns a `LexofficeSandbox`; serve its `.app` (with
`serve_in_background` in tests). What happens in the Lexware UI is driven with `assign_payment`, `reopen_as_draft`
and `emit` (or the `/_sandbox/lexoffice/*` routes); partner apps connect through its OAuth2 authorization server
(`/api/oauth2/authorize`, `/api/oauth2/token`, see `_oauth`); callbacks are signed with `signer` (its
`public_key_pem`) and sent on the sandbox clock (`flush_callbacks()`).
"""

from ._access import BURST, RATE_PER_SECOND
from ._callbacks import EVENT_TYPES, RETRY_DELAYS_SECONDS, SIGNATURE_HEADER, CallbackDelivery, CallbackSigner
from ._errors import LexofficeError
from ._factory import create_lexoffice_sandbox
from ._fixtures import ORGANIZATION_ID, POSTING_CATEGORIES
from ._models import Resource
from ._oauth import DEV_CLIENT_ID, DEV_CLIENT_SECRET, OAuthServerConfig
from ._sandbox import LexofficeSandbox

__all__ = [
    "BURST",
    "DEV_CLIENT_ID",
    "DEV_CLIENT_SECRET",
    "EVENT_TYPES",
    "ORGANIZATION_ID",
    "POSTING_CATEGORIES",
    "RATE_PER_SECOND",
    "RETRY_DELAYS_SECONDS",
    "SIGNATURE_HEADER",
    "CallbackDelivery",
    "CallbackSigner",
    "LexofficeError",
    "LexofficeSandbox",
    "OAuthServerConfig",
    "Resource",
    "create_lexoffice_sandbox",
]
