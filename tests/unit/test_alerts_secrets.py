"""Webhook secrets at rest: sealed with the service's key, or only named."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from alerts.secrets import new_key, seal, unseal
from greenmon.errors import InvalidInput, ServiceError
from greenmon.settings import Settings, load_settings


def keyed(key: str | None) -> Settings:
    return load_settings(alerts_secret_key=SecretStr(key) if key is not None else None)


def test_a_sealed_secret_opens_only_with_its_key() -> None:
    settings = keyed(new_key())
    stored = seal(settings, "alpha-secret", "A/webhook")
    assert stored.startswith("fernet:") and "alpha-secret" not in stored
    assert seal(settings, "alpha-secret", "A/webhook") != stored  # a fresh IV each time
    assert unseal(settings, stored, None, "A/webhook") == "alpha-secret"
    with pytest.raises(ServiceError, match="A/webhook: its secret was sealed with another key"):
        unseal(keyed(new_key()), stored, None, "A/webhook")
    with pytest.raises(ServiceError, match="GREENMON_ALERTS_SECRET_KEY is not set"):
        unseal(keyed(None), stored, None, "A/webhook")


def test_without_a_key_a_literal_secret_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"channel A/webhook: .*secret_env"):
        seal(keyed(None), "alpha-secret", "A/webhook")
    with pytest.raises(InvalidInput, match=r"channel A/webhook: .*secret_env"):
        seal(keyed(""), "alpha-secret", "A/webhook")  # as compose passes an unset variable
    with pytest.raises(InvalidInput, match="not a key"):
        seal(keyed("too-short"), "alpha-secret", "A/webhook")


def test_a_named_secret_is_read_from_the_services_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("A_HOOK_SECRET", "from-env")
    assert unseal(keyed(None), None, "A_HOOK_SECRET", "A/webhook") == "from-env"
    monkeypatch.delenv("A_HOOK_SECRET")
    with pytest.raises(ServiceError, match="variable A_HOOK_SECRET is not set"):
        unseal(keyed(None), None, "A_HOOK_SECRET", "A/webhook")
    assert unseal(keyed(None), None, None, "A/email") is None
