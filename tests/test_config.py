"""Settings: defaults, parsing, and what the media plane advertises."""

from __future__ import annotations

from pathlib import Path

import pytest

from townhall.api.services.media import client_config
from townhall.config import ConfigError, IceServer, load_settings


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
        IceServer(urls="turn:turn.example.org:3478", username="u", credential="p")
    ]
    # Browsers get them as configured: only the keys that were given.
    monkeypatch.setenv(
        "TOWNHALL_ICE_SERVERS", '[{"urls": "stun:a"}, {"urls": ["turn:b"], "username": "u"}]'
    )
    assert client_config(load_settings()).model_dump(mode="json") == {
        "ice_servers": [{"urls": "stun:a"}, {"urls": ["turn:b"], "username": "u"}]
    }
    monkeypatch.setenv("TOWNHALL_ICE_SERVERS", '[{"username": "no urls"}]')
    with pytest.raises(ConfigError, match="TOWNHALL_ICE_SERVERS"):
        load_settings()


def test_database_urls_map_to_async_drivers(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path)
    assert s.effective_database_url == f"sqlite+aiosqlite:///{(tmp_path / 'townhall.db').resolve()}"
    s = load_settings(database_url="postgres://u:p@db:5432/th")
    assert s.effective_database_url == "postgresql+asyncpg://u:p@db:5432/th"


def test_public_url_is_normalised() -> None:
    assert load_settings(public_url="https://talk.example.org/").public_url == (
        "https://talk.example.org"
    )


def test_edge_settings_parse_and_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWNHALL_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1 ,::1")
    monkeypatch.setenv("TOWNHALL_ALLOWED_ORIGINS", "https://a.example.org,http://127.0.0.1:3000")
    s = load_settings()
    assert [str(n) for n in s.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32", "::1/128"]
    assert s.allowed_origins == ["https://a.example.org", "http://127.0.0.1:3000"]
    assert load_settings(trusted_proxies="").trusted_proxies == []  # the default: none
    monkeypatch.setenv("TOWNHALL_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")
    with pytest.raises(ConfigError, match=r"TOWNHALL_TRUSTED_PROXIES.*proxy\.local"):
        load_settings()
    monkeypatch.delenv("TOWNHALL_TRUSTED_PROXIES")
    monkeypatch.setenv("TOWNHALL_ALLOWED_ORIGINS", "https://a.example.org/app")
    with pytest.raises(ConfigError, match="TOWNHALL_ALLOWED_ORIGINS"):
        load_settings()


def test_cookies_are_secure_by_default_behind_an_https_public_url() -> None:
    assert load_settings().secure_cookies is False
    assert load_settings(public_url="https://talk.example.org").secure_cookies is True
    assert load_settings(public_url="http://talk.example.org").secure_cookies is False
    assert (
        load_settings(public_url="https://talk.example.org", cookie_secure=False).secure_cookies
        is False
    )


def test_evidence_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().evidence_retention_days == 90
    monkeypatch.setenv("TOWNHALL_EVIDENCE_RETENTION_DAYS", "7")
    assert load_settings().evidence_retention_days == 7
    for bad in ("0", "soon", "5000"):
        monkeypatch.setenv("TOWNHALL_EVIDENCE_RETENTION_DAYS", bad)
        with pytest.raises(ConfigError, match="TOWNHALL_EVIDENCE_RETENTION_DAYS"):
            load_settings()
    monkeypatch.delenv("TOWNHALL_EVIDENCE_RETENTION_DAYS")
    monkeypatch.setenv("TOWNHALL_EVIDENCE_BEFORE_SECONDS", "500")
    with pytest.raises(ConfigError, match="TOWNHALL_EVIDENCE_AFTER_SECONDS"):
        load_settings()  # 500 + the default 120 > the buffer's 600
