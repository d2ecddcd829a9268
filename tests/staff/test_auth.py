"""The key that signs staff sessions: configured, or generated once and kept."""

from __future__ import annotations

import stat

from bot.web.staff import auth


def test_configured_secret_key_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("BOT_SECRET_KEY", "configured-key")
    monkeypatch.setenv("BOT_SECRET_FILE", str(tmp_path / "unused"))
    assert auth.secret_key() == b"configured-key"
    assert not (tmp_path / "unused").exists()


def test_generated_key_is_written_once_readable_only_by_its_owner(monkeypatch, tmp_path):
    monkeypatch.delenv("BOT_SECRET_KEY", raising=False)
    key_file = tmp_path / "var" / "secret_key"
    monkeypatch.setenv("BOT_SECRET_FILE", str(key_file))
    first = auth.secret_key()
    assert len(first) >= 48 and auth.secret_key() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["secret_key"]  # no drafts left
    assert auth.token_hash("t") == auth.token_hash("t") != auth.token_hash("u")


def test_idle_timeout_follows_the_setting(monkeypatch):
    monkeypatch.setenv("BOT_STAFF_IDLE_MINUTES", "2.5")
    assert auth.idle_timeout().total_seconds() == 150
