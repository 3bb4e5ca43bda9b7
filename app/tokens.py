"""Signed, expiring bearer tokens (itsdangerous).

A token names a user id, the user's token version at issue and a random token
id, and carries its signing time; it is valid for ``ttl_s`` seconds. The
signature is checked without storage, so any process with the same
``SECRET_KEY`` accepts it; revocation (``app.revocation``) is checked against
the user's current version and the revoked token ids.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeGuard

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from common.times import utc


class TokenError(Exception):
    """The token is malformed, forged or expired. ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says. Tokens from before revocation carry neither version
    nor id: they count as version 0 and cannot be revoked one by one."""

    user_id: int
    version: int
    token_id: str | None
    expires_at: datetime


class TokenSigner:
    def __init__(self, secret_key: str, ttl_s: int) -> None:
        # HMAC-SHA1 as itsdangerous signs by default, but with hashlib's own sha1: its
        # default wraps it in a Python function, which sends every check down hmac's
        # slow pure-Python path. Same signatures; about a third cheaper per request.
        self._serializer = URLSafeTimedSerializer(
            secret_key, salt="livecart.auth.v1", signer_kwargs={"digest_method": hashlib.sha1}
        )
        self.ttl_s = ttl_s

    def issue(self, user_id: int, version: int = 0) -> str:
        # 72 random bits: unguessable, and short in every request's header.
        return self._serializer.dumps(
            {"uid": user_id, "v": version, "jti": secrets.token_urlsafe(9)}
        )

    def verify(self, token: str) -> Claims:
        """The claims of ``token``; raise ``TokenError`` when it is not valid now."""
        if len(token) > 1024:
            raise TokenError("invalid_token", "token is malformed")
        try:
            payload, signed_at = self._serializer.loads(
                token, max_age=self.ttl_s, return_timestamp=True
            )
        except SignatureExpired:
            raise TokenError("token_expired", "token has expired; sign in again") from None
        except BadSignature:
            raise TokenError("invalid_token", "token is invalid") from None
        if not isinstance(payload, dict):
            raise TokenError("invalid_token", "token is invalid")
        uid, version, jti = payload.get("uid"), payload.get("v", 0), payload.get("jti")
        if not _is_int(uid) or not _is_int(version) or not isinstance(jti, str | None):
            raise TokenError("invalid_token", "token is invalid")
        expires = utc(signed_at) + timedelta(seconds=self.ttl_s)
        return Claims(uid, version, jti, expires)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
