"""`POST /v1/emails`: internal services ask for a templated mail (signup confirmation, password reset, magic link).

The request is recorded in the send ledger and answered at once (202 with the message id and status); the sender
loop calls Postmark. An `Idempotency-Key` makes the call safe to repeat: the same key returns the same message and
sends nothing new; the same key with a different request is a 409.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, HTTPException, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, UrlConstraints

from .. import ledger
from ..rendering import pick_locale
from .deps import ApiKey, Pool, Settings
from .messages import MessageView

router = APIRouter(prefix="/v1", tags=["emails"], dependencies=[ApiKey])

Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=ledger.ADDRESS_PATTERN)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")
]
LocaleTag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}([-_][A-Za-z0-9]{2,8})?$")]
Link = Annotated[AnyHttpUrl, UrlConstraints(max_length=2000)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="the caller's key for this mail; a repeated call with the same key sends nothing new",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignupConfirmationModel(_Model):
    confirm_url: Link
    expires_in_hours: int = Field(default=48, ge=1, le=720)


class PasswordResetModel(_Model):
    reset_url: Link
    expires_in_minutes: int = Field(default=60, ge=1, le=10080)


class MagicLinkModel(_Model):
    login_url: Link
    expires_in_minutes: int = Field(default=15, ge=1, le=1440)


class _EmailRequest(_Model):
    to: Address = Field(description="one recipient address")
    name: Name | None = Field(default=None, description="the recipient's name, for the greeting")
    locale: LocaleTag | None = Field(
        default=None, description="de or en (a region is ignored); other languages get NOTIFIER_DEFAULT_LOCALE"
    )


class SignupConfirmationEmail(_EmailRequest):
    template: Literal["signup_confirmation"]
    model: SignupConfirmationModel


class PasswordResetEmail(_EmailRequest):
    template: Literal["password_reset"]
    model: PasswordResetModel


class MagicLinkEmail(_EmailRequest):
    template: Literal["magic_link"]
    model: MagicLinkModel


EmailRequest = Annotated[SignupConfirmationEmail | PasswordResetEmail | MagicLinkEmail, Field(discriminator="template")]


class EmailAccepted(BaseModel):
    id: uuid.UUID
    status: ledger.Status
    status_reason: str | None = Field(description="why the mail is not (or not yet) sent, when it is not")
    message: MessageView


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": EmailAccepted, "description": "a repeated Idempotency-Key: the message recorded the first time"},
    401: {"description": "missing or invalid X-Internal-Api-Key"},
    409: {"description": "the Idempotency-Key was used for a different request"},
    422: {"description": "invalid request: unknown template, bad address, model fields missing or invalid"},
}


@router.post(
    "/emails",
    status_code=202,
    response_model=EmailAccepted,
    responses=_RESPONSES,
    summary="Send a templated e-mail to one recipient",
)
async def send_email(
    body: Annotated[EmailRequest, Body()],
    response: Response,
    pool: Pool,
    settings: Settings,
    idempotency_key: IdempotencyKey = None,
) -> EmailAccepted:
    document = body.model_dump(mode="json")
    fingerprint = ledger.request_hash(document)
    # The API is a source of its own, next to the event sources in `{source}#{id}` keys.
    key = f"/notifier/api#{idempotency_key or uuid.uuid4()}"
    async with pool.acquire() as conn, conn.transaction():
        result = await ledger.insert(
            conn,
            ledger.NewMessage(
                dedupe_key=key,
                origin="api",
                template=body.template,
                locale=pick_locale(body.locale, settings.default_locale),
                recipient=body.to,
                recipient_name=body.name,
                model={**document["model"], "name": body.name},
                source_ref=idempotency_key,
                request_hash=fingerprint,
            ),
        )
    message = result.message
    if not result.created:
        if message.request_hash != fingerprint:
            raise HTTPException(409, "Idempotency-Key was already used for a different request")
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return EmailAccepted(
        id=message.id, status=message.status, status_reason=message.error, message=MessageView.of(message)
    )
