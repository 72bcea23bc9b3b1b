"""The TLS certificate a provider presented: read from the connection an answer came on."""

from __future__ import annotations

import ssl

import httpx


def tls_connection(response: httpx.Response) -> ssl.SSLObject | ssl.SSLSocket | None:
    """The TLS session the answer came over; None over plain http. Read it while the connection is open (in a
    response hook)."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    return ssl_object if isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket) else None


def certificate_expiry(connection: ssl.SSLObject | ssl.SSLSocket) -> float | None:
    """The peer certificate's notAfter as Unix seconds; None with verification off, where Python does not parse the
    peer's certificate."""
    not_after = (connection.getpeercert() or {}).get("notAfter")
    return ssl.cert_time_to_seconds(not_after) if isinstance(not_after, str) else None
