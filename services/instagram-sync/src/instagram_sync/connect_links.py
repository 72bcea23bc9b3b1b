"""Connect links: the client portal's backend asks for one (internal API key) for the client logged in to it and
sends that client's browser there. The link's `ref` carries the client and the login, encrypted and authenticated
under a key derived from the credential keys (rotation carries over; a ref made for another purpose never opens),
and expires after a few minutes on the service clock. The public connect route takes no client id of its own, so
nobody can start a flow that files an Instagram account under another client's dashboard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import get_args

from cryptography.fernet import InvalidToken

from intplat_common.credentials import CredentialCipher

from .clock import Clock, utc_now
from .connect import CUSTOMER_ID, ConnectError
from .graph.ports import Login

LINK_PURPOSE = "instagram-connect-link"


@dataclass(frozen=True)
class ConnectLink:
    ref: str
    expires_at: datetime


class ConnectLinks:
    def __init__(self, cipher: CredentialCipher, *, ttl: timedelta, clock: Clock = utc_now) -> None:
        self._fernet = cipher.derived(LINK_PURPOSE)
        self._ttl = ttl
        self._clock = clock

    def issue(self, login: Login, customer_id: str) -> ConnectLink:
        if not CUSTOMER_ID.match(customer_id):
            raise ConnectError("invalid_request", "customer_id must be 1-64 of [A-Za-z0-9_-]")
        now = self._clock()
        payload = json.dumps({"customer_id": customer_id, "login": login}).encode()
        ref = self._fernet.encrypt_at_time(payload, int(now.timestamp())).decode()
        return ConnectLink(ref, now + self._ttl)

    def open(self, ref: str | None) -> tuple[Login, str]:
        """The login and client a valid, unexpired ref names; else `ConnectError` `invalid_link`."""
        try:
            payload = json.loads(
                self._fernet.decrypt_at_time(
                    (ref or "").encode(), int(self._ttl.total_seconds()), int(self._clock().timestamp())
                )
            )
        except (InvalidToken, ValueError):
            raise ConnectError("invalid_link", "the connect link is invalid or expired: ask the portal again") from None
        login, customer_id = payload.get("login"), payload.get("customer_id")
        if login not in get_args(Login) or not isinstance(customer_id, str):
            raise ConnectError("invalid_link", "the connect link names no login or client")
        return login, customer_id
