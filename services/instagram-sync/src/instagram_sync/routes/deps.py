"""The service's components as route dependencies (each is on `app.state`, see the service kit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..connect import ConnectFlow
from ..connect_links import ConnectLinks
from ..connections import Connections
from ..settings import InstagramSyncSettings


async def _flow(request: Request) -> ConnectFlow:
    flow: ConnectFlow = request.app.state.connect
    return flow


async def _links(request: Request) -> ConnectLinks:
    links: ConnectLinks = request.app.state.connect_links
    return links


async def _connections(request: Request) -> Connections:
    connections: Connections = request.app.state.connections
    return connections


async def _settings(request: Request) -> InstagramSyncSettings:
    settings: InstagramSyncSettings = request.app.state.settings
    return settings


Flow = Annotated[ConnectFlow, Depends(_flow)]
Links = Annotated[ConnectLinks, Depends(_links)]
ConnectionStore = Annotated[Connections, Depends(_connections)]
Settings = Annotated[InstagramSyncSettings, Depends(_settings)]
