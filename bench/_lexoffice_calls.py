"""Every call the Lexoffice sandbox received, as the sandbox saw it, and the figures of a run drawn from them.

`CallRecorder` wraps the sandbox's ASGI app: each request to the API (`/v1/...`) is recorded with the time it
arrived and the status it got, 429s included (the sandbox's own request log is bounded and keeps bodies).
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._report import percentile

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# The head and the tail of a run are not its steady state: the first calls find the bucket full, the last ones wait
# for the last documents' preconditions.
STEADY_STATE_CUT = 0.05


@dataclass(frozen=True)
class Call:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    status: int | None  # None: the connection was dropped

    @property
    def kind(self) -> str:
        """`POST /v1/vouchers/{id}/files`: the call without its resource ids."""
        return f"{self.method} " + "/".join("{id}" if _ID.match(part) else part for part in self.path.split("/"))


class CallRecorder:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.calls: list[Call] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self._app(scope, receive, send)
            return
        arrived = time.monotonic()
        status: int | None = None

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, recording)
        finally:
            self.calls.append(Call(arrived, scope["method"], scope["path"], status))


@dataclass(frozen=True)
class Pacing:
    """The calls of the steady state: their rate, the gaps between them, the 429s among them."""

    calls: int
    per_second: float
    throttled: int
    gap_p50_ms: float
    gap_min_ms: float
    gap_max_ms: float


def steady_state(calls: list[Call]) -> Pacing:
    ordered = sorted(calls, key=lambda c: c.at)
    cut = int(len(ordered) * STEADY_STATE_CUT)
    window = ordered[cut : len(ordered) - cut]
    if len(window) < 2:
        raise ValueError(f"{len(calls)} calls are too few for a steady state")
    gaps = [(b.at - a.at) * 1000 for a, b in itertools.pairwise(window)]
    return Pacing(
        calls=len(window),
        per_second=(len(window) - 1) / (window[-1].at - window[0].at),
        throttled=sum(1 for c in window if c.status == 429),
        gap_p50_ms=percentile(gaps, 50),
        gap_min_ms=min(gaps),
        gap_max_ms=max(gaps),
    )


def per_kind(calls: list[Call]) -> Counter[str]:
    return Counter(call.kind for call in calls)
