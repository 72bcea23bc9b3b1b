"""Graph API nodes and edges (reference A2, C1.4-7): `/me`, `/{id}` (Instagram account, media, Page, user) with
`fields`, and the edges instagram-sync reads. Every call is authenticated (code 190 and its subcodes), checked for
the permission it needs (code 10) and charged to the budgets (throttle codes) before it is answered."""

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ._budget import Cost
from ._errors import GraphError, invalid_parameter, unknown_object
from ._fields import FieldSpec, parse_fields
from ._graph import graph_version, metered
from ._insights import account_insights, parse_query
from ._media_insights import media_insights
from ._models import InstagramAccount, Media
from ._paging import parse_limit
from ._render import RenderContext, account_body, expansions, media_body, media_page, page_body, pages_page, user_body
from ._sandbox import MetaSandbox
from ._tokens import AccessToken

INSIGHTS_COST = Cost(cputime=2, time=3)
Answer = dict[str, Any] | None
"""An edge's JSON body; None: the node has no such edge."""


def appsecret_proof(app_secret: str, access_token: str) -> str:
    """HMAC-SHA256 of the token with the app secret, hex (reference A1 `appsecret_proof`)."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def access_token_of(request: Request, params: Mapping[str, str]) -> str | None:
    """`access_token` among the parameters, or `Authorization: Bearer|OAuth <token>`."""
    if token := params.get("access_token"):
        return token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "oauth") and value.strip() else None


def graph_router(meta: MetaSandbox) -> APIRouter:  # no __future__ annotations: FastAPI reads them
    router = APIRouter(tags=["graph"])

    def authenticate(request: Request, params: Mapping[str, str] | None = None) -> AccessToken:
        """`params`: the query string, or with a POST also its form (where Graph accepts them too)."""
        metered(request, None)
        params = request.query_params if params is None else params
        value = access_token_of(request, params)
        if value is None:
            raise GraphError("An access token is required to request this resource.", 104)
        token = meta.tokens.valid(value, meta.now())
        proof = params.get("appsecret_proof")
        if proof is None and meta.require_appsecret_proof:
            raise invalid_parameter("API calls from the server require an appsecret_proof argument")
        if proof is not None and not hmac.compare_digest(proof, appsecret_proof(meta.app_secret, value)):
            raise GraphError("Invalid appsecret_proof provided in the API argument", 100, type="GraphMethodException")
        return token

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
        """`me` is the token's user, Page or Instagram account."""
        return token.subject_id if node_id == "me" else node_id

    def fields(request: Request) -> tuple[FieldSpec, ...] | None:
        return parse_fields(request.query_params.get("fields"))

    async def params_of(request: Request) -> dict[str, str]:
        """Graph POST parameters come in the query string or a urlencoded form."""
        form = parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
        return {**dict(form), **request.query_params}

    def subscribed_account(token: AccessToken, node_id: str) -> str:
        """`/{ig-user-id}/subscribed_apps` (Instagram Login) or `/{page-id}/subscribed_apps` (Facebook Login)."""
        page = next((p for p in meta.visible_pages(token) if p.id == node_id), None)
        if page is not None and page.instagram_account_id is not None:
            return page.instagram_account_id
        return meta.reachable_account(token, node_id).id

    @router.post("/{node_id}/subscribed_apps")
    async def subscribe_app(node_id: str, request: Request) -> JSONResponse:
        """Enable webhooks for an account (reference A4 Requirements); fields from `subscribed_fields`."""
        params = await params_of(request)
        token = authenticate(request, params)
        account_id = subscribed_account(token, resolve(token, node_id))
        charge(request, account_id, Cost())
        meta.require(token, "insights")
        wanted = params.get("subscribed_fields", "").split(",")
        if not any(wanted):
            raise invalid_parameter("The parameter subscribed_fields is required")
        meta.subscribed_fields.setdefault(account_id, set()).update(f for f in wanted if f)
        return JSONResponse({"success": True})

    async def publishing(request: Request, node_id: str) -> tuple[InstagramAccount, dict[str, str]]:
        """The account a publishing call is for, and its parameters (authenticated, charged, permission checked)."""
        params = await params_of(request)
        token = authenticate(request, params)
        account = meta.reachable_account(token, resolve(token, node_id))
        charge(request, account.id, Cost())
        meta.require(token, "publish")
        return account, params

    @router.post("/{node_id}/media")
    async def create_container(node_id: str, request: Request) -> JSONResponse:
        """Content publishing step 1: a container from `image_url`, or `video_url` with `media_type=REELS`."""
        account, params = await publishing(request, node_id)
        return JSONResponse({"id": meta.publisher.create(account, params, meta.now()).id})

    @router.post("/{node_id}/media_publish")
    async def publish(node_id: str, request: Request) -> JSONResponse:
        """Content publishing step 3: publish a FINISHED container (`creation_id`) within the publishing limit."""
        account, params = await publishing(request, node_id)
        return JSONResponse({"id": meta.publish(account, params.get("creation_id")).id})

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
        if node_id in meta.publisher.containers:
            container = meta.publisher.containers[node_id]
            meta.reachable_account(token, container.account_id)
            charge(request, container.account_id, cost)
            names = None if specs is None else [spec.name for spec in specs]
            return JSONResponse(container.body(names, meta.now()))
        if node_id in {page.id for page in meta.visible_pages(token)}:
            charge(request, None, cost)
            return JSONResponse(page_body(ctx, meta.world.pages[node_id], specs))
        if token.kind == "user" and node_id == token.subject_id:
            charge(request, None, cost)
            return JSONResponse(user_body(ctx, node_id, specs))
        raise unknown_object(node_id)

    def account_edge(request: Request, ctx: RenderContext, account: InstagramAccount, edge: str) -> Answer:
        params = request.query_params
        if edge in ("media", "stories"):
            spec = FieldSpec(edge, {k: params[k] for k in ("limit", "after") if k in params}, fields(request))
            charge(request, account.id, Cost(cputime=1 + expansions(spec.subfields), time=2))
            meta.require(ctx.token, "basic")
            stories = edge == "stories"
            items = meta.live_stories(account) if stories else [meta.world.media[m] for m in account.media_ids]
            return media_page(ctx, account, items, spec, edge=edge)
        if edge == "insights":
            charge(request, account.id, INSIGHTS_COST)
            meta.require(ctx.token, "insights")
            query = parse_query(dict(params), now=meta.now(), version=graph_version(request))

            def page_url(since: int, until: int) -> str:
                rest = {k: v for k, v in params.items() if k not in ("since", "until", "access_token")}
                return ctx.edge_url(account.id, "insights", {**rest, "since": str(since), "until": str(until)})

            return account_insights(account, query, now=meta.now(), page_url=page_url)
        if edge == "content_publishing_limit":
            charge(request, account.id, Cost())
            meta.require(ctx.token, "publish")
            return meta.publisher.limit_body(account.id, meta.now())
        return None

    def media_edge(request: Request, ctx: RenderContext, media: Media, edge: str) -> Answer:
        if edge == "insights":
            charge(request, media.account_id, INSIGHTS_COST)
            meta.require(ctx.token, "insights")
            return media_insights(media, dict(request.query_params), now=meta.now())
        if edge == "children":
            charge(request, media.account_id, Cost())
            meta.require(ctx.token, "basic")
            children = [meta.world.media[c] for c in media.children]
            return {"data": [media_body(ctx, child, fields(request)) for child in children]}
        return None

    def user_pages(request: Request, ctx: RenderContext) -> Answer:
        """`/me/accounts`: the user's Pages, cursor paged."""
        params = request.query_params
        charge(request, None, Cost())
        meta.require(ctx.token, "pages")

        def next_url(after: str) -> str:
            rest = {k: v for k, v in params.items() if k not in ("after", "access_token")}
            return ctx.edge_url(ctx.token.subject_id, "accounts", {**rest, "after": after})

        limit, after = parse_limit(params.get("limit")), params.get("after")
        pages = meta.visible_pages(ctx.token)
        return pages_page(ctx, pages, fields(request), limit=limit, after=after, next_url=next_url)

    @router.get("/{node_id}/{edge}")
    async def read_edge(node_id: str, edge: str, request: Request) -> JSONResponse:
        token = authenticate(request)
        node_id = resolve(token, node_id)
        ctx = context(request, token)
        answer: Answer
        if edge == "subscribed_apps":
            account_id = subscribed_account(token, node_id)
            charge(request, account_id, Cost())
            subscribed = sorted(meta.subscribed_fields.get(account_id, ()))
            answer = {"data": [{"id": meta.app_id, "subscribed_fields": subscribed}] if subscribed else []}
        elif edge == "permissions" and node_id == token.subject_id:
            charge(request, None, Cost())
            answer = {"data": permissions(token)}
        elif node_id in meta.world.accounts:
            answer = account_edge(request, ctx, meta.reachable_account(token, node_id), edge)
        elif node_id in meta.world.media:
            answer = media_edge(request, ctx, meta.reachable_media(token, node_id), edge)
        elif token.kind == "user" and node_id == token.subject_id and edge == "accounts":
            answer = user_pages(request, ctx)
        else:
            raise unknown_object(node_id)
        if answer is None:
            raise GraphError(f"Unknown path components: /{edge}", 2500)
        return JSONResponse(answer)

    return router


def permissions(token: AccessToken) -> list[dict[str, Any]]:
    granted = [{"permission": scope, "status": "granted"} for scope in token.scopes]
    return granted + [{"permission": scope, "status": "declined"} for scope in token.declined]
