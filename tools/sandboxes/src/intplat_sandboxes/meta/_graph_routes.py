"""Graph API nodes and edges (reference A2, C1.4-7): `/me`, `/{id}` (Instagram account, media, Page, user) with
`fields`, and the edges instagram-sync reads. Every call is authenticated (code 190 and its subcodes), checked for
the permission it needs (code 10) and charged to the budgets (throttle codes) before it is answered."""

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ._budget import Cost
from ._errors import GraphError, unknown_object
from ._fields import FieldSpec, parse_fields
from ._graph import graph_version, metered
from ._insights import account_insights, parse_query
from ._media_insights import media_insights
from ._paging import parse_limit
from ._render import RenderContext, account_body, expansions, media_body, media_page, page_body, pages_page, user_body
from ._sandbox import MetaSandbox
from ._tokens import AccessToken

INSIGHTS_COST = Cost(cputime=2, time=3)


def access_token_of(request: Request) -> str | None:
    """`access_token` in the query, or `Authorization: Bearer|OAuth <token>`."""
    if token := request.query_params.get("access_token"):
        return token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "oauth") and value.strip() else None


def graph_router(meta: MetaSandbox) -> APIRouter:  # no __future__ annotations: FastAPI reads them
    router = APIRouter(tags=["graph"])

    def authenticate(request: Request) -> AccessToken:
        metered(request, None)
        value = access_token_of(request)
        if value is None:
            raise GraphError("An access token is required to request this resource.", 104)
        return meta.tokens.valid(value, meta.now())

    def context(request: Request, token: AccessToken) -> RenderContext:
        base = str(request.base_url).rstrip("/")
        version = graph_version(request)
        prefix = f"{base}/v{version}.0" if version is not None else base

        def edge_url(node_id: str, edge: str, params: dict[str, str]) -> str:
            return f"{prefix}/{node_id}/{edge}?{urlencode({'access_token': token.value, **params})}"

        return RenderContext(meta, token, meta.now(), edge_url)

    def charge(request: Request, account_id: str | None, cost: Cost) -> None:
        metered(request, account_id)
        meta.charge(account_id, cost)

    def resolve(token: AccessToken, node_id: str) -> str:
        if node_id != "me":
            return node_id
        return token.user_id if token.kind == "page" and token.user_id else token.subject_id

    def fields(request: Request) -> tuple[FieldSpec, ...] | None:
        return parse_fields(request.query_params.get("fields"))

    @router.get("/{node_id}")
    async def read_node(node_id: str, request: Request) -> JSONResponse:
        token = authenticate(request)
        node_id = resolve(token, node_id)
        specs = fields(request)
        ctx = context(request, token)
        cost = Cost(cputime=1 + expansions(specs), time=1 + expansions(specs))
        if node_id in meta.world.accounts:
            account = meta.reachable_account(token, node_id)
            charge(request, account.id, cost)
            meta.require(token, "basic")
            return JSONResponse(account_body(ctx, account, specs))
        if node_id in meta.world.media:
            media = meta.reachable_media(token, node_id)
            charge(request, media.account_id, cost)
            meta.require(token, "basic")
            return JSONResponse(media_body(ctx, media, specs))
        if node_id in {page.id for page in meta.visible_pages(token)}:
            charge(request, None, cost)
            return JSONResponse(page_body(ctx, meta.world.pages[node_id], specs))
        if token.kind == "user" and node_id == token.subject_id:
            charge(request, None, cost)
            return JSONResponse(user_body(ctx, node_id, specs))
        raise unknown_object(node_id)

    @router.get("/{node_id}/{edge}")
    async def read_edge(node_id: str, edge: str, request: Request) -> JSONResponse:
        token = authenticate(request)
        node_id = resolve(token, node_id)
        params = request.query_params
        ctx = context(request, token)
        if node_id in meta.world.accounts:
            account = meta.reachable_account(token, node_id)
            spec = FieldSpec(edge, {k: params[k] for k in ("limit", "after") if k in params}, fields(request))
            if edge in ("media", "stories"):
                charge(request, account.id, Cost(cputime=1 + expansions(spec.subfields), time=2))
                meta.require(token, "basic")
                stories = edge == "stories"
                items = meta.live_stories(account) if stories else [meta.world.media[m] for m in account.media_ids]
                return JSONResponse(media_page(ctx, account, items, spec, edge=edge))
            if edge == "insights":
                charge(request, account.id, INSIGHTS_COST)
                meta.require(token, "insights")
                query = parse_query(dict(params), now=meta.now(), version=graph_version(request))

                def page_url(since: int, until: int) -> str:
                    rest = {k: v for k, v in params.items() if k not in ("since", "until", "access_token")}
                    return ctx.edge_url(account.id, "insights", {**rest, "since": str(since), "until": str(until)})

                return JSONResponse(account_insights(account, query, now=meta.now(), page_url=page_url))
        elif node_id in meta.world.media:
            media = meta.reachable_media(token, node_id)
            if edge == "insights":
                charge(request, media.account_id, INSIGHTS_COST)
                meta.require(token, "insights")
                return JSONResponse(media_insights(media, dict(params), now=meta.now()))
            if edge == "children":
                charge(request, media.account_id, Cost())
                meta.require(token, "basic")
                children = [meta.world.media[c] for c in media.children]
                return JSONResponse({"data": [media_body(ctx, child, fields(request)) for child in children]})
        elif token.kind == "user" and node_id == token.subject_id:
            charge(request, None, Cost())
            if edge == "accounts":
                meta.require(token, "pages")
                limit = parse_limit(params.get("limit"))

                def next_url(after: str) -> str:
                    rest = {k: v for k, v in params.items() if k not in ("after", "access_token")}
                    return ctx.edge_url(node_id, "accounts", {**rest, "after": after})

                pages = meta.visible_pages(token)
                return JSONResponse(
                    pages_page(ctx, pages, fields(request), limit=limit, after=params.get("after"), next_url=next_url)
                )
            if edge == "permissions":
                return JSONResponse({"data": permissions(token)})
        elif node_id == token.subject_id and edge == "permissions":
            charge(request, None, Cost())
            return JSONResponse({"data": permissions(token)})
        else:
            raise unknown_object(node_id)
        raise GraphError(f"Unknown path components: /{edge}", 2500)

    return router


def permissions(token: AccessToken) -> list[dict[str, Any]]:
    granted = [{"permission": scope, "status": "granted"} for scope in token.scopes]
    return granted + [{"permission": scope, "status": "declined"} for scope in token.declined]
