"""Personal links without storing them (SPEC §8, DESIGN: links without storing them).

The token is derived when needed as HMAC-SHA256(secret key, episode public id), 256 bits
in base64url, so an outbox row can render its SMS at send time and a reminder carries the
same link as its invitation. Only SHA-256(token) is stored, for look-ups: a copy of the
database alone reveals no working link. Rotating the secret key retires every link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def link_token(secret_key: str, public_id: str) -> str:
    digest = hmac.new(secret_key.encode(), public_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url}/s/{token}"
