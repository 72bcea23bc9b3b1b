"""`/_sandbox/meta/*`: who logs in next, token invalidation, budgets and throttling, paging quirks, accepted
versions and webhooks (for `make run` and out-of-process tests). Under `/_sandbox`, so never faulted, logged,
metered or throttled."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ._budget import Budget, UsageMeter
from ._errors import ACCOUNT_THROTTLE_CODES, APP_THROTTLE_CODES, TOKEN_SUBCODE_MESSAGES
from ._paging import PagingQuirks
from ._sandbox import MetaSandbox, NextLogin

PREFIX = "/_sandbox/meta"


class LoginScript(BaseModel):
    model_config = ConfigDict(extra="forbid")

    facebook_user_id: str | None = None
    instagram_account_id: str | None = None
    declined: list[str] = Field(default_factory=list)
    cancel: bool = False


class NewAccounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=10_000)
    followers_count: int = Field(default=1000, ge=0)
    impressions_24h: int = Field(default=1000, ge=0)
    media_count: int = Field(default=10, ge=0, le=200)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: Literal["facebook", "instagram"]
    subject_id: str
    """A Facebook user id (facebook) or an Instagram account id (instagram)."""
    long_lived: bool = True


class Invalidation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_token: str
    subcode: int = 467


class BudgetSettings(BaseModel):
    """Any field left out keeps its value; `usage_percent` fills the window to that call count."""

    model_config = ConfigDict(extra="forbid")

    calls: int | None = Field(default=None, ge=0)
    cputime: int | None = Field(default=None, ge=0)
    time: int | None = Field(default=None, ge=0)
    window_seconds: float | None = Field(default=None, gt=0)
    usage_percent: int | None = Field(default=None, ge=0, le=100)
    block_extension_seconds: float | None = Field(default=None, ge=0)


class Throttle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Literal[4, 17, 32, 613, 80002] = 80002
    minutes: float = Field(gt=0)
    account_id: str | None = None
    """None: the app (code 4); otherwise that account (17, 32, 613, 80002)."""


class HeaderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_percent: int = Field(ge=0, le=100)


class Quirks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    short_pages: list[int] = Field(default_factory=list)
    empty_pages: list[int] = Field(default_factory=list)


class Versions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted: list[Annotated[str, StringConstraints(pattern=r"^v\d+\.\d+$")]] = Field(min_length=1)


class Subscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    callback_url: str
    verify_token: str


class StoryInsights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    media_id: str
    signature: str | None = None
    """Sent instead of the real signature (the bad-signature case)."""


def _configure(meter: UsageMeter, settings: BudgetSettings, meta: MetaSandbox) -> None:
    budget = meter.budget
    meter.budget = Budget(
        calls=budget.calls if settings.calls is None else settings.calls,
        cputime=budget.cputime if settings.cputime is None else settings.cputime,
        time=budget.time if settings.time is None else settings.time,
        window=budget.window if settings.window_seconds is None else timedelta(seconds=settings.window_seconds),
    )
    if settings.block_extension_seconds is not None:
        meter.extension = timedelta(seconds=settings.block_extension_seconds)
    if settings.usage_percent is not None:
        meter.fill(meta.now(), settings.usage_percent)


def _meter_state(meter: UsageMeter, meta: MetaSandbox) -> dict[str, Any]:
    now = meta.now()
    return {
        **meter.usage(now),
        "estimated_time_to_regain_access": meter.minutes_to_regain(now),
        "blocked_until": meter.blocked_until.isoformat() if meter.blocked(now) and meter.blocked_until else None,
        "calls": meter.calls,
        "refused": meter.refused,
        "refused_while_blocked": meter.refused_while_blocked,
        "budget": {
            "calls": meter.budget.calls,
            "cputime": meter.budget.cputime,
            "time": meter.budget.time,
            "window_seconds": meter.budget.window.total_seconds(),
        },
    }


def control_router(meta: MetaSandbox) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["sandbox"])

    def account_meter(account_id: str) -> UsageMeter:
        account = meta.world.accounts.get(account_id)
        if account is None:
            raise HTTPException(status_code=404, detail=f"no Instagram account {account_id!r}")
        return meta.budgets.account(account.id, account.impressions_24h)

    @router.get("/world")
    async def world() -> dict[str, Any]:
        """The fixture: users with their Pages, Pages with their Instagram account, accounts with their media."""
        return {
            "app_id": meta.app_id,
            "users": [{"id": u.id, "name": u.name, "page_ids": u.page_ids} for u in meta.world.users.values()],
            "pages": [
                {"id": p.id, "name": p.name, "instagram_business_account": p.instagram_account_id}
                for p in meta.world.pages.values()
            ],
            "accounts": [
                {
                    "id": a.id,
                    "username": a.username,
                    "followers_count": a.followers_count,
                    "page_id": a.page_id,
                    "media_ids": a.media_ids,
                }
                for a in meta.world.accounts.values()
            ],
        }

    @router.post("/accounts", status_code=201)
    async def add_accounts(request: NewAccounts) -> list[dict[str, Any]]:
        """More accounts (e.g. 1,000 for a benchmark), each with its own Facebook user and Page."""
        added = meta.add_accounts(
            request.count, followers_count=request.followers_count, impressions_24h=request.impressions_24h,
            media_count=request.media_count,
        )  # fmt: skip
        return [
            {"id": a.id, "username": a.username, "page_id": a.page_id, "facebook_user_id": meta.world.owner(a)}
            for a in added
        ]

    @router.post("/tokens", status_code=201)
    async def mint_token(request: TokenRequest) -> dict[str, Any]:
        """A token with the insights permissions, as the login would give it, without the dialog."""
        try:
            token = meta.mint_token(request.login, request.subject_id, long_lived=request.long_lived)
        except KeyError as exc:
            raise HTTPException(status_code=404, detail=f"no {request.login} subject {request.subject_id!r}") from exc
        return {"access_token": token.value, "kind": token.kind, "expires_in": token.expires_in(meta.now())}

    @router.put("/login")
    async def next_login(script: LoginScript) -> LoginScript:
        """Who logs in at the next dialog (either login), what they decline, or that they cancel."""
        default = NextLogin()
        meta.next_login = NextLogin(
            facebook_user_id=script.facebook_user_id or default.facebook_user_id,
            instagram_account_id=script.instagram_account_id or default.instagram_account_id,
            declined=script.declined,
            cancel=script.cancel,
        )
        return script

    @router.get("/tokens")
    async def tokens() -> list[dict[str, Any]]:
        return [
            {
                "access_token": t.value,
                "kind": t.kind,
                "subject_id": t.subject_id,
                "scopes": t.scopes,
                "declined": t.declined,
                "issued_at": t.issued_at.isoformat(),
                "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                "long_lived": t.long_lived,
                "invalidated_subcode": t.invalidated_subcode,
            }
            for t in meta.tokens.tokens.values()
        ]

    @router.post("/tokens/invalidate", status_code=204)
    async def invalidate(request: Invalidation) -> None:
        """From now on the token answers code 190 with `subcode` (460 password changed, 467 logged out, ...)."""
        if request.subcode not in TOKEN_SUBCODE_MESSAGES:
            raise HTTPException(status_code=422, detail=f"subcode must be one of {sorted(TOKEN_SUBCODE_MESSAGES)}")
        if request.access_token not in meta.tokens.tokens:
            raise HTTPException(status_code=404, detail="unknown token")
        meta.tokens.invalidate(request.access_token, request.subcode)

    @router.put("/budgets/app")
    async def app_budget(settings: BudgetSettings) -> dict[str, Any]:
        _configure(meta.budgets.app, settings, meta)
        return _meter_state(meta.budgets.app, meta)

    @router.put("/budgets/{account_id}")
    async def account_budget(account_id: str, settings: BudgetSettings) -> dict[str, Any]:
        meter = account_meter(account_id)
        _configure(meter, settings, meta)
        return _meter_state(meter, meta)

    @router.get("/usage")
    async def usage() -> dict[str, Any]:
        return {
            "app": _meter_state(meta.budgets.app, meta),
            "accounts": {aid: _meter_state(meter, meta) for aid, meter in meta.budgets.accounts.items()},
        }

    @router.post("/throttle")
    async def throttle(request: Throttle) -> dict[str, Any]:
        """Block the app (code 4) or an account (17, 32, 613, 80002) for `minutes` of the sandbox clock."""
        if (request.account_id is None) != (request.code in APP_THROTTLE_CODES):
            raise HTTPException(
                status_code=422,
                detail=f"app codes {sorted(APP_THROTTLE_CODES)} take no account_id; "
                f"account codes {sorted(ACCOUNT_THROTTLE_CODES)} need one",
            )
        meter = meta.budgets.app if request.account_id is None else account_meter(request.account_id)
        meter.block(meta.now(), code=request.code, minutes=request.minutes)
        return _meter_state(meter, meta)

    @router.put("/usage-headers")
    async def usage_headers(settings: HeaderSettings) -> HeaderSettings:
        """Usage headers only from this percentage on (Meta leaves them out at low volume)."""
        meta.budgets.headers_from_percent = settings.from_percent
        return settings

    @router.put("/accounts/{account_id}/paging")
    async def paging(account_id: str, quirks: Quirks) -> Quirks:
        """Which 0-based pages of `/{id}/media` come back short or empty (both keep `next`)."""
        account_meter(account_id)
        meta.paging[account_id] = PagingQuirks(frozenset(quirks.short_pages), frozenset(quirks.empty_pages))
        return quirks

    @router.put("/versions")
    async def versions(request: Versions) -> Versions:
        meta.versions = tuple(request.accepted)
        return request

    @router.post("/stories/{media_id}/expire")
    async def expire_story(media_id: str) -> dict[str, str]:
        """The story passes its 24 h: no longer in `/stories`, its insights come back empty."""
        media = meta.world.media.get(media_id)
        if media is None or media.product_type != "STORY":
            raise HTTPException(status_code=404, detail=f"no story {media_id!r}")
        meta.expire_story(media_id)
        return {"id": media_id}

    @router.post("/webhooks/subscribe")
    async def subscribe(request: Subscription) -> dict[str, Any]:
        """Save the callback as in the App Dashboard: Meta sends the `hub.challenge` GET first."""
        result = await meta.webhooks.subscribe(request.callback_url, request.verify_token)
        return {
            "verified": result.verified,
            "challenge": result.challenge,
            "status": result.status,
            "body": result.body,
            "error": result.error,
        }

    @router.post("/webhooks/story-insights")
    async def story_insights(request: StoryInsights) -> dict[str, Any]:
        """POST a signed `story_insights` change for a story to the verified callback."""
        try:
            payload = meta.story_insights_event(request.media_id)
            delivery = await meta.webhooks.send(payload, signature=request.signature)
        except KeyError as exc:
            raise HTTPException(status_code=404, detail=f"no story {request.media_id!r}") from exc
        except LookupError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        return delivery.summary()

    @router.get("/webhooks/deliveries")
    async def deliveries() -> list[dict[str, Any]]:
        return [delivery.summary() for delivery in meta.webhooks.deliveries]

    @router.post("/webhooks/deliveries/{delivery_id}/redeliver")
    async def redeliver(delivery_id: int) -> dict[str, Any]:
        """The same bytes with the same signature again (Meta's redelivery)."""
        found = next((d for d in meta.webhooks.deliveries if d.id == delivery_id), None)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no delivery {delivery_id}")
        return (await meta.webhooks.attempt(found)).summary()

    return router
