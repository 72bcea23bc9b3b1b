"""Both logins (reference A1, C1.1-2): the authorization dialogs, code → short-lived token → long-lived token,
the Instagram refresh, `/me/permissions` and `/debug_token`."""

from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse

from ._errors import GraphError, invalid_parameter, invalid_token
from ._sandbox import FACEBOOK_SCOPES, INSIGHTS_SCOPES, INSTAGRAM_SCOPES, MetaSandbox
from ._tokens import (
    DATA_ACCESS,
    FACEBOOK_LONG_LIVED_SECONDS,
    INSTAGRAM_LONG_LIVED_SECONDS,
    SHORT_LIVED_SECONDS,
    AccessToken,
    Login,
)

INSTAGRAM_BASIC = "instagram_business_basic"
APPLICATION = "intplat sandbox app"


def _scopes(raw: str | None) -> list[str]:
    return [s for s in (raw or "").replace(" ", ",").split(",") if s]


def _bearer(token: AccessToken, expires_in: int) -> JSONResponse:
    return JSONResponse({"access_token": token.value, "token_type": "bearer", "expires_in": expires_in})


def oauth_router(meta: MetaSandbox) -> APIRouter:  # no __future__ annotations: FastAPI reads them
    router = APIRouter(tags=["login"])

    def check_client(client_id: str | None, client_secret: str | None = None, *, secret_required: bool = False) -> None:
        if client_id is not None and client_id != meta.app_id:
            raise GraphError("Error validating application. Invalid application ID.", 101)
        if (secret_required or client_secret is not None) and client_secret != meta.app_secret:
            raise GraphError("Error validating client secret.", 1)

    def dialog(login: Login, request: Request) -> RedirectResponse:
        params = request.query_params
        check_client(params.get("client_id"))
        if params.get("client_id") is None:
            raise GraphError("Error validating application. Invalid application ID.", 101)
        redirect_uri = params.get("redirect_uri") or ""
        if not redirect_uri or (meta.redirect_uris and redirect_uri not in meta.redirect_uris):
            raise GraphError("Can't load URL: The domain of this URL isn't included in the app's domains.", 191)
        if params.get("response_type", "code") != "code":
            raise invalid_parameter("response_type must be code")
        known = FACEBOOK_SCOPES if login == "facebook" else INSTAGRAM_SCOPES
        requested = _scopes(params.get("scope"))
        if login == "facebook" and params.get("config_id"):
            requested = list(INSIGHTS_SCOPES["facebook"])
        if unknown := [s for s in requested if s not in known]:
            raise invalid_parameter(f"Invalid Scopes: {', '.join(unknown)}")
        if login == "instagram" and INSTAGRAM_BASIC not in requested:
            raise invalid_parameter(f"Invalid Scopes: the scope must include {INSTAGRAM_BASIC}")
        if not requested:
            raise invalid_parameter("scope or config_id is required")
        state = {"state": params["state"]} if "state" in params else {}
        suffix = "#_=_" if login == "facebook" else "#_"
        script = meta.next_login
        if script.cancel:
            denied = {"error": "access_denied", "error_reason": "user_denied",
                      "error_description": "Permissions error"} | state  # fmt: skip
            return RedirectResponse(f"{redirect_uri}?{urlencode(denied)}{suffix}", status_code=302)
        subject = script.facebook_user_id if login == "facebook" else script.instagram_account_id
        code = meta.tokens.new_code(
            login,
            client_id=meta.app_id,
            redirect_uri=redirect_uri,
            subject_id=subject,
            scopes=[s for s in requested if s not in script.declined],
            declined=[s for s in requested if s in script.declined],
            now=meta.now(),
        )
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code} | state)}{suffix}", status_code=302)

    @router.get("/dialog/oauth")
    async def facebook_dialog(request: Request) -> RedirectResponse:
        """Facebook Login for Business (www.facebook.com/{version}/dialog/oauth): `scope` or `config_id`."""
        return dialog("facebook", request)

    @router.get("/oauth/authorize")
    async def instagram_dialog(request: Request) -> RedirectResponse:
        """Business Login for Instagram (www.instagram.com/oauth/authorize); the code carries `#_`."""
        return dialog("instagram", request)

    @router.post("/oauth/access_token")
    async def instagram_code(request: Request) -> JSONResponse:
        """api.instagram.com: form `client_id, client_secret, grant_type=authorization_code, redirect_uri, code`."""
        # A urlencoded form, parsed by hand: Starlette's form parser needs python-multipart for any form.
        fields = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))
        check_client(fields.get("client_id"), fields.get("client_secret"), secret_required=True)
        if fields.get("grant_type") != "authorization_code":
            raise invalid_parameter("grant_type must be authorization_code")
        now = meta.now()
        code = meta.tokens.redeem(
            fields.get("code", ""), login="instagram", client_id=fields.get("client_id", ""),
            redirect_uri=fields.get("redirect_uri", ""), now=now,
        )  # fmt: skip
        token = meta.tokens.issue("instagram_user", code, now=now, lifetime_seconds=SHORT_LIVED_SECONDS)
        permissions = ",".join(code.scopes)
        return JSONResponse({"data": [{"access_token": token.value, "user_id": code.subject_id,
                                       "permissions": permissions}]})  # fmt: skip

    @router.get("/oauth/access_token")
    async def facebook_token(request: Request) -> JSONResponse:
        """graph.facebook.com: `code` → short-lived user token; `grant_type=fb_exchange_token` → long-lived."""
        params = request.query_params
        check_client(params.get("client_id"), params.get("client_secret"), secret_required=True)
        now = meta.now()
        if params.get("grant_type") == "fb_exchange_token":
            short = meta.tokens.valid(params.get("fb_exchange_token"), now)
            if short.kind != "user":
                raise invalid_parameter("fb_exchange_token must be a user access token")
            token = meta.tokens.issue(
                "user", short, now=now, lifetime_seconds=FACEBOOK_LONG_LIVED_SECONDS, long_lived=True
            )
            return _bearer(token, FACEBOOK_LONG_LIVED_SECONDS)
        code = meta.tokens.redeem(
            params.get("code", ""), login="facebook", client_id=params.get("client_id", ""),
            redirect_uri=params.get("redirect_uri", ""), now=now,
        )  # fmt: skip
        token = meta.tokens.issue("user", code, now=now, lifetime_seconds=SHORT_LIVED_SECONDS)
        return _bearer(token, SHORT_LIVED_SECONDS)

    @router.get("/access_token")
    async def instagram_exchange(request: Request) -> JSONResponse:
        """graph.instagram.com: `grant_type=ig_exchange_token&client_secret&access_token=<short-lived>`."""
        params = request.query_params
        if params.get("grant_type") != "ig_exchange_token":
            raise invalid_parameter("grant_type must be ig_exchange_token")
        check_client(None, params.get("client_secret"), secret_required=True)
        now = meta.now()
        short = meta.tokens.valid(params.get("access_token"), now)
        if short.kind != "instagram_user":
            raise invalid_token()
        token = meta.tokens.issue(
            "instagram_user", short, now=now, lifetime_seconds=INSTAGRAM_LONG_LIVED_SECONDS, long_lived=True
        )
        return _bearer(token, INSTAGRAM_LONG_LIVED_SECONDS)

    @router.get("/refresh_access_token")
    async def instagram_refresh(request: Request) -> JSONResponse:
        """`grant_type=ig_refresh_token`: at least 24 h old and not expired, else code 190."""
        params = request.query_params
        if params.get("grant_type") != "ig_refresh_token":
            raise invalid_parameter("grant_type must be ig_refresh_token")
        token = meta.tokens.refresh_instagram(params.get("access_token"), meta.now())
        return _bearer(token, INSTAGRAM_LONG_LIVED_SECONDS)

    @router.get("/debug_token")
    async def debug_token(request: Request) -> JSONResponse:
        """`input_token` inspected with an app token (`app_id|app_secret`) or any valid token; the app token
        itself inspects as `APP`, valid and never expiring (instagram-sync's uptime probe)."""
        params = request.query_params
        now = meta.now()
        app_token = f"{meta.app_id}|{meta.app_secret}"
        if params.get("access_token") != app_token:
            meta.tokens.valid(params.get("access_token"), now)
        if params.get("input_token") == app_token:
            app = {"app_id": meta.app_id, "type": "APP", "application": APPLICATION, "is_valid": True}
            return JSONResponse({"data": {**app, "expires_at": 0, "scopes": []}})
        token = meta.tokens.tokens.get(params.get("input_token") or "")
        if token is None:
            raise invalid_token()
        data: dict[str, object] = {
            "app_id": meta.app_id,
            "type": {"user": "USER", "page": "PAGE", "instagram_user": "USER"}[token.kind],
            "application": APPLICATION,
            "user_id": token.user_id or token.subject_id,
            "is_valid": True,
            "issued_at": int(token.issued_at.timestamp()),
            "expires_at": 0 if token.expires_at is None else int(token.expires_at.timestamp()),
            "data_access_expires_at": int((token.issued_at + DATA_ACCESS).timestamp()),
            "scopes": token.scopes,
            "granular_scopes": [{"scope": s} for s in token.scopes],
        }
        if token.kind == "page":
            data["profile_id"] = token.subject_id
        try:
            meta.tokens.valid(token.value, now)
        except GraphError as refused:
            data["is_valid"] = False
            data["error"] = {"code": refused.code, "message": refused.message, "subcode": refused.subcode}
        return JSONResponse({"data": data})

    return router
