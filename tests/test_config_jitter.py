"""TOWNHALL_JITTER_PREFETCH_MS: whole 20 ms frames, 0..200, a wrong value names the variable."""

from __future__ import annotations

import pytest

from townhall.config import ConfigError, load_settings


def test_default_is_one_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOWNHALL_JITTER_PREFETCH_MS", raising=False)
    settings = load_settings()
    assert settings.jitter_prefetch_ms == 20 and settings.jitter_prefetch_samples == 960


@pytest.mark.parametrize(
    ("value", "ms"), [("0", 0), ("40", 40), ("50", 60), ("29", 20), ("200", 200)]
)
def test_values_are_rounded_to_whole_frames(
    monkeypatch: pytest.MonkeyPatch, value: str, ms: int
) -> None:
    monkeypatch.setenv("TOWNHALL_JITTER_PREFETCH_MS", value)
    assert load_settings().jitter_prefetch_ms == ms


@pytest.mark.parametrize("value", ["-20", "220", "fast"])
def test_wrong_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TOWNHALL_JITTER_PREFETCH_MS", value)
    with pytest.raises(ConfigError, match="TOWNHALL_JITTER_PREFETCH_MS"):
        load_settings()
