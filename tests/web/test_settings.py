"""bot.settings: one field per environment variable, documented in the README, checked on read."""

from __future__ import annotations

import re
from typing import Dict, Tuple

import pytest

from bot import settings
from bot.cli.main import main as bot_main
from bot.paths import ROOT
from bot.settings import Settings, SettingsError

ENV_NAMES = [settings.env_name(field) for field in Settings.__fields__.values()]
REGENERATE = (
    "the README's Configuration table and bot/settings.py differ: "
    "paste the output of `.venv/bin/python -m bot.settings` into the README"
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Each test starts from the defaults, whatever the shell running pytest has set."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def readme_configuration() -> Dict[str, Tuple[str, str]]:
    """variable -> (default, meaning) from the README's Configuration table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.fullmatch(r"\| `([A-Z_]+)` \| (.+?) \| (.+) \|", line.strip())
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def test_readme_documents_every_setting_and_nothing_else():
    assert sorted(readme_configuration()) == sorted(ENV_NAMES), REGENERATE


def test_readme_defaults_and_meanings_are_those_of_the_code():
    documented = readme_configuration()
    for field in Settings.__fields__.values():
        name = settings.env_name(field)
        expected = (settings.shown_default(field), field.field_info.description)
        assert documented.get(name) == expected, f"{name}: {REGENERATE}"


def test_every_setting_has_a_one_line_description():
    for field in Settings.__fields__.values():
        description = field.field_info.description or ""
        assert description and "\n" not in description and "|" not in description, field.name


def test_defaults():
    loaded = settings.load()
    assert (loaded.host, loaded.rasa_port, loaded.actions_port, loaded.web_port) == ("127.0.0.1", 5005, 5055, 8000)
    assert loaded.db_url == f"sqlite:///{ROOT / 'var' / 'bot.db'}"
    assert loaded.default_region == "uk" and loaded.allowed_origins == () and loaded.redis_url == ""
    assert (loaded.max_message_chars, loaded.retention_days, loaded.staff_idle_minutes) == (1000, 30, 30)
    assert loaded.secret_key == "" and loaded.secret_file == ROOT / "var" / "secret_key"
    assert loaded.cookie_secure is False
    assert loaded.web_url == "http://127.0.0.1:8000"


def test_rasa_token_is_random_per_run_unless_set(monkeypatch):
    first, second = settings.load().rasa_token, settings.load().rasa_token
    assert first != second and len(first) >= 24
    monkeypatch.setenv("RASA_TOKEN", "configured")
    assert settings.load().rasa_token == "configured"
    assert "configured" not in repr(settings.load())  # secrets stay out of logs


def test_values_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BOT_REGION", " US ")
    monkeypatch.setenv("RASA_PORT", "6005")
    monkeypatch.setenv("BOT_ALLOWED_ORIGINS", "https://a.example, https://b.example,")
    monkeypatch.setenv("BOT_STAFF_IDLE_MINUTES", "2.5")
    monkeypatch.setenv("BOT_SECRET_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("BOT_COOKIE_SECURE", "yes")
    monkeypatch.setenv("BOT_REDIS_URL", "")  # empty means the default
    loaded = settings.load()
    assert loaded.default_region == "us" and loaded.rasa_port == 6005
    assert loaded.allowed_origins == ("https://a.example", "https://b.example")
    assert loaded.staff_idle_minutes == 2.5 and loaded.secret_file == tmp_path / "key"
    assert loaded.cookie_secure is True and loaded.redis_url == ""


@pytest.mark.parametrize(
    "name,value",
    [
        ("BOT_REGION", "fr"),
        ("RASA_PORT", "five thousand"),
        ("WEB_PORT", "70000"),
        ("BOT_MAX_MESSAGE_CHARS", "0"),
        ("BOT_STAFF_IDLE_MINUTES", "soon"),
        ("BOT_COOKIE_SECURE", "perhaps"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_named(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        settings.load()


def test_a_bad_region_says_what_is_allowed(monkeypatch):
    monkeypatch.setenv("BOT_REGION", "fr")
    with pytest.raises(SettingsError, match=r"BOT_REGION: must be one of uk, us, not 'fr'"):
        settings.load()


def test_the_command_line_reports_a_bad_setting_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("BOT_DB_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.setenv("RASA_PORT", "abc")
    assert bot_main(["purge", "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert "RASA_PORT" in error and "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_environment_round_trip_gives_child_processes_the_same_settings(monkeypatch):
    loaded = settings.load().replace(rasa_port=6111, allowed_origins=("https://a.example",), cookie_secure=True)
    for name, value in loaded.environment().items():
        monkeypatch.setenv(name, value)
    assert settings.load() == loaded
    assert set(loaded.environment()) == set(ENV_NAMES)


def test_replace_validates_and_leaves_the_original_alone():
    original = settings.load()
    changed = original.replace(web_port=9000)
    assert (original.web_port, changed.web_port) == (8000, 9000)
    assert changed.rasa_token == original.rasa_token
    with pytest.raises(SettingsError, match="WEB_PORT"):
        original.replace(web_port="not a port")
    with pytest.raises(TypeError):
        original.web_port = 1  # type: ignore[misc]


def test_only_bot_settings_reads_the_environment():
    """Everything else takes its configuration from bot.settings (bot.stack copies the
    environment only to hand it, with the settings, to the processes it starts)."""
    allowed = {"bot/settings.py", "bot/stack.py"}
    readers = []
    for folder in ("bot", "actions"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"os\.environ|getenv", line) and relative not in allowed:
                    readers.append(f"{relative}:{number}: {line.strip()}")
    assert readers == []


def test_stack_children_get_every_setting():
    from bot.stack import process_env

    loaded = settings.load()
    env = process_env(loaded)
    assert {name: env[name] for name in ENV_NAMES} == loaded.environment()
