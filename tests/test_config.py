"""Settings: defaults, parsing, and what the media plane advertises."""

from __future__ import annotations

import pytest

from townhall.config import ConfigError, load_settings


def test_media_addresses_default_to_loopback_only_when_listening_on_loopback() -> None:
    assert load_settings(host="127.0.0.1").effective_media_addresses == ["127.0.0.1"]
    assert load_settings(host="::1").effective_media_addresses == ["127.0.0.1"]
    assert load_settings(host="0.0.0.0").effective_media_addresses == []  # aioice decides
    configured = load_settings(host="127.0.0.1", media_addresses="203.0.113.7, 2001:db8::1")
    assert configured.effective_media_addresses == ["203.0.113.7", "2001:db8::1"]


def test_ice_servers_parse_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TOWNHALL_ICE_SERVERS",
        '[{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]',
    )
    assert load_settings().ice_servers == [
        {"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}
    ]
    monkeypatch.setenv("TOWNHALL_ICE_SERVERS", '[{"username": "no urls"}]')
    with pytest.raises(ConfigError, match="TOWNHALL_ICE_SERVERS"):
        load_settings()


def test_database_urls_map_to_async_drivers(tmp_path) -> None:
    s = load_settings(data_dir=tmp_path)
    assert s.effective_database_url == f"sqlite+aiosqlite:///{(tmp_path / 'townhall.db').resolve()}"
    s = load_settings(database_url="postgres://u:p@db:5432/th")
    assert s.effective_database_url == "postgresql+asyncpg://u:p@db:5432/th"


def test_public_url_is_normalised() -> None:
    assert load_settings(public_url="https://talk.example.org/").public_url == (
        "https://talk.example.org"
    )
