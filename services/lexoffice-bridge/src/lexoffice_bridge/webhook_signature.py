"""`X-Lxo-Signature`: base64 of an RSA-SHA512 signature (PKCS#1 v1.5, what `openssl dgst -sha512 -verify` checks)
over the callback's raw body, made with Lexoffice's private key (reference §4, Signature)."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class WebhookVerifier:
    def __init__(self, public_key_pem: str) -> None:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("the Lexoffice webhook key must be an RSA public key")
        self._key = key

    def verify(self, body: bytes, signature_header: str | None) -> bool:
        """Whether the signature is Lexoffice's over exactly these bytes (never a re-serialisation of them)."""
        if not signature_header:
            return False
        try:
            signature = base64.b64decode(signature_header.strip(), validate=True)
            self._key.verify(signature, body, padding.PKCS1v15(), hashes.SHA512())
        except (binascii.Error, InvalidSignature):
            return False
        return True
