"""Webhook secrets at rest: sealed with a key the database never sees, or not stored at all.

A channel's secret is given in the rules file either as ``secret_env`` (the name of a
variable in the alerts service's environment: only the name is stored) or as a
literal ``secret``, which is stored sealed (Fernet: AES-128-CBC + HMAC-SHA256) with
``GREENMON_ALERTS_SECRET_KEY``. Without that key a literal secret is refused, so no
secret lands in the database in the clear. ``greenmon alerts secret-key`` makes a key.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken

from greenmon.errors import InvalidInput, ServiceError
from greenmon.settings import Settings

PREFIX = "fernet:"


def new_key() -> str:
    return Fernet.generate_key().decode()


def _fernet(settings: Settings) -> Fernet | None:
    key = settings.alerts_secret_key
    if key is None or not key.get_secret_value():
        return None  # unset, or set empty (as docker compose passes an unset variable)
    try:
        return Fernet(key.get_secret_value().encode())
    except ValueError:
        raise InvalidInput(
            "GREENMON_ALERTS_SECRET_KEY is not a key (32 url-safe base64 bytes; "
            "make one with `greenmon alerts secret-key`)"
        ) from None


def seal(settings: Settings, secret: str, label: str) -> str:
    """The stored form of a literal secret."""
    fernet = _fernet(settings)
    if fernet is None:
        raise InvalidInput(
            f"channel {label}: a literal secret is stored encrypted: set "
            "GREENMON_ALERTS_SECRET_KEY, or give secret_env (a variable of the alerts service)"
        )
    return PREFIX + fernet.encrypt(secret.encode()).decode()


def unseal(settings: Settings, stored: str | None, env: str | None, label: str) -> str | None:
    """The secret of a stored channel: from its variable, or decrypted; None if it has none."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ServiceError(f"channel {label}: variable {env} is not set for the alerts service")
        return value
    if stored is None:
        return None
    if not stored.startswith(PREFIX):
        return stored  # stored before secrets were sealed: re-load the rules to seal it
    fernet = _fernet(settings)
    if fernet is None:
        raise ServiceError(f"channel {label}: its secret is sealed; GREENMON_ALERTS_SECRET_KEY "
                           "is not set")  # fmt: skip
    try:
        return fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ServiceError(f"channel {label}: its secret was sealed with another key") from None
