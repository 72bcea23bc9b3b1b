"""The `CREDENTIALS_ENCRYPTION_KEYS` setting, for the services that store provider credentials."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from .._settings import ServiceSettings, split_csv
from ._cipher import CredentialCipher, parse_encryption_keys

DEV_KEY_ID_PREFIX = "dev"


class CredentialSettings(ServiceSettings):
    """ServiceSettings plus the credential encryption keys: `<key id>:<Fernet key>`, comma-separated, first encrypts.

    Malformed keys are refused everywhere; in production the keys must be set and none may carry a key id starting
    with "dev" (the prefix of the keys `make run` generates).
    """

    credentials_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias="CREDENTIALS_ENCRYPTION_KEYS"
    )

    # Validator names differ from ServiceSettings' (`_csv_keys`): a same-named method would replace the parent's.
    @field_validator("credentials_encryption_keys", mode="before")
    @classmethod
    def _csv_encryption_keys(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("credentials_encryption_keys")
    @classmethod
    def _valid_encryption_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        parse_encryption_keys(key.get_secret_value() for key in value)
        return value

    @model_validator(mode="after")
    def _real_keys_in_production(self) -> CredentialSettings:
        if self.environment == "production":
            if not self.credentials_encryption_keys:
                raise ValueError("CREDENTIALS_ENCRYPTION_KEYS must be set in production")
            keys = parse_encryption_keys(key.get_secret_value() for key in self.credentials_encryption_keys)
            dev_keys = [key.key_id for key in keys if key.key_id.startswith(DEV_KEY_ID_PREFIX)]
            if dev_keys:
                raise ValueError(f"CREDENTIALS_ENCRYPTION_KEYS holds generated development keys: {', '.join(dev_keys)}")
        return self

    def credential_cipher(self) -> CredentialCipher:
        return CredentialCipher.from_entries(key.get_secret_value() for key in self.credentials_encryption_keys)
