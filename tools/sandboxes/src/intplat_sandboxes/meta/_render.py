"""Graph nodes as JSON: the requested fields and the node's `id` (Graph returns it whether asked or not), ids as
numeric strings, and edges expanded inside the node (`media.limit(5){id,caption}`,
`instagram_business_account{id,username}`, `children{id}`, `insights.metric(reach)`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._errors import nonexisting_field
from ._fields import FieldSpec, fields_text
from ._insights import graph_time
from ._media_insights import media_insights
from ._models import InstagramAccount, Media, Page
from ._paging import PagingQuirks, cursor_page, parse_limit
from ._sandbox import MetaSandbox
from ._tokens import AccessToken

ID_ONLY = (FieldSpec("id"),)
PAGE_DEFAULT = (FieldSpec("id"), FieldSpec("name"), FieldSpec("access_token"), FieldSpec("category"))
NO_QUIRKS = PagingQuirks(frozenset(), frozenset())


@dataclass(frozen=True)
class RenderContext:
    meta: MetaSandbox
    token: AccessToken
    now: datetime
    edge_url: Callable[[str, str, dict[str, str]], str]
    """`edge_url(node_id, edge, params)`: the absolute URL of an edge page (the `next` of an expanded edge)."""


def expansions(specs: tuple[FieldSpec, ...] | None) -> int:
    """How many edges a request expands (each costs CPU and time, not an extra call)."""
    return sum(1 + expansions(s.subfields) for s in specs or () if s.subfields is not None or s.modifiers)


def account_body(ctx: RenderContext, account: InstagramAccount, specs: tuple[FieldSpec, ...] | None) -> dict[str, Any]:
    scalars: dict[str, Callable[[], Any]] = {
        "id": lambda: account.id,
        "ig_id": lambda: int(account.id[-10:]),
        "user_id": lambda: account.id,
        "username": lambda: account.username,
        "name": lambda: account.name,
        "biography": lambda: account.biography,
        "website": lambda: account.website,
        "followers_count": lambda: account.followers_count,
        "follows_count": lambda: account.follows_count,
        "media_count": lambda: len([m for m in account.media_ids if ctx.meta.world.media[m].product_type != "STORY"]),
        "profile_picture_url": lambda: account.profile_picture_url,
        "account_type": lambda: "BUSINESS",
    }
    body: dict[str, Any] = {}
    for spec in specs or ID_ONLY:
        if spec.name in scalars:
            body[spec.name] = scalars[spec.name]()
        elif spec.name == "media":
            ctx.meta.require(ctx.token, "basic")
            body["media"] = media_page(ctx, account, [ctx.meta.world.media[m] for m in account.media_ids], spec)
        elif spec.name == "stories":
            ctx.meta.require(ctx.token, "basic")
            body["stories"] = media_page(ctx, account, ctx.meta.live_stories(account), spec, edge="stories")
        else:
            raise nonexisting_field(spec.name, "IGUser")
    return body | {"id": account.id}


def media_page(
    ctx: RenderContext, account: InstagramAccount, items: list[Media], spec: FieldSpec, *, edge: str = "media"
) -> dict[str, Any]:
    """A page of an account's media, as the edge or as an expanded field (`spec` carries limit/after/subfields)."""
    params = {"fields": fields_text(spec.subfields or ID_ONLY)}
    if "limit" in spec.modifiers:
        params["limit"] = spec.modifiers["limit"]
    quirks = ctx.meta.quirks(account.id) if edge == "media" else NO_QUIRKS
    return cursor_page(
        items,
        limit=parse_limit(spec.modifiers.get("limit")),
        after=spec.modifiers.get("after"),
        quirks=quirks,
        next_url=lambda after: ctx.edge_url(account.id, edge, params | {"after": after}),
        render=lambda media: media_body(ctx, media, spec.subfields),
    )


def media_body(ctx: RenderContext, media: Media, specs: tuple[FieldSpec, ...] | None) -> dict[str, Any]:
    account = ctx.meta.world.accounts[media.account_id]
    scalars: dict[str, Callable[[], Any]] = {
        "id": lambda: media.id,
        "caption": lambda: media.caption,
        "media_type": lambda: media.media_type,
        "media_product_type": lambda: media.product_type,
        "media_url": lambda: f"https://scontent.sandbox.invalid/{media.id}.{_extension(media)}",
        "permalink": lambda: f"https://www.instagram.com/p/{media.id[-8:]}/",
        "shortcode": lambda: media.id[-8:],
        "timestamp": lambda: graph_time(media.timestamp),
        "like_count": lambda: media.like_count,
        "comments_count": lambda: media.comments_count,
        "username": lambda: account.username,
        "is_comment_enabled": lambda: True,
        "owner": lambda: {"id": account.id},
    }
    if media.media_type == "VIDEO":
        scalars["thumbnail_url"] = lambda: f"https://scontent.sandbox.invalid/{media.id}-thumb.jpg"
    body: dict[str, Any] = {}
    for spec in specs or ID_ONLY:
        if spec.name in scalars:
            body[spec.name] = scalars[spec.name]()
        elif spec.name == "children":
            if media.children:
                children = [ctx.meta.world.media[c] for c in media.children]
                body["children"] = {"data": [media_body(ctx, child, spec.subfields) for child in children]}
        elif spec.name == "insights":
            ctx.meta.require(ctx.token, "insights")
            params = {k: v for k, v in spec.modifiers.items() if k in ("metric", "breakdown", "period")}
            body["insights"] = media_insights(media, params, now=ctx.now)
        else:
            raise nonexisting_field(spec.name, "IGMedia")
    return body | {"id": media.id}


def page_body(ctx: RenderContext, page: Page, specs: tuple[FieldSpec, ...] | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for spec in specs or ID_ONLY:
        if spec.name in ("id", "name", "category"):
            body[spec.name] = getattr(page, spec.name)
        elif spec.name == "access_token":
            if ctx.token.kind == "user":
                body["access_token"] = ctx.meta.tokens.page_token(ctx.token, page.id, ctx.now).value
        elif spec.name == "instagram_business_account":
            if page.instagram_account_id is not None:
                account = ctx.meta.world.accounts[page.instagram_account_id]
                body[spec.name] = account_body(ctx, account, spec.subfields)
        else:
            raise nonexisting_field(spec.name, "Page")
    return body | {"id": page.id}


def user_body(ctx: RenderContext, user_id: str, specs: tuple[FieldSpec, ...] | None) -> dict[str, Any]:
    user = ctx.meta.world.users[user_id]
    body: dict[str, Any] = {}
    for spec in specs or (FieldSpec("id"), FieldSpec("name")):
        if spec.name not in ("id", "name"):
            raise nonexisting_field(spec.name, "User")
        body[spec.name] = getattr(user, spec.name)
    return body | {"id": user.id}


def pages_page(
    ctx: RenderContext,
    pages: list[Page],
    specs: tuple[FieldSpec, ...] | None,
    *,
    limit: int,
    after: str | None,
    next_url: Callable[[str], str],
) -> dict[str, Any]:
    return cursor_page(
        pages, limit=limit, after=after, quirks=NO_QUIRKS, next_url=next_url,
        render=lambda page: page_body(ctx, page, specs or PAGE_DEFAULT),
    )  # fmt: skip


def _extension(media: Media) -> str:
    return "mp4" if media.media_type == "VIDEO" else "jpg"
