"""The Lexoffice adapter: `LexofficeClient` implements `ports.LexofficeApi` over HTTP."""

from .documents import voucher_update_body
from .lexoffice import PROVIDER, LexofficeClient, lexoffice_http

__all__ = ["PROVIDER", "LexofficeClient", "lexoffice_http", "voucher_update_body"]
