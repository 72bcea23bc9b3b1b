"""The TLS certificate a provider presented: read from the connection an answer came on."""

from __future__ import annotations

import ssl

import httpx


def peer_certificate_expiry(response: httpx.Response) -> float | None:
    """The certificate's notAfter as Unix seconds; None over plain http (or with verification off, where Python
    does not parse the peer's certificate). Read it while the connection is open (in a response hook)."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    not_after = (ssl_object.getpeercert() or {}).get("notAfter")
    return ssl.cert_time_to_seconds(not_after) if isinstance(not_after, str) else None
