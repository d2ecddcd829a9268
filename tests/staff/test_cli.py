"""`bot staff add|list|disable` with the password read from stdin (no TTY)."""

from __future__ import annotations

import os

import requests

from bot.paths import ROOT
from tests.staff.conftest import PASSWORD, csrf_of, run_cli


def test_staff_add_reads_password_from_stdin_and_hashes_it_with_argon2(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = dict(os.environ, BOT_DB_URL=db_url, PYTHONPATH=str(ROOT))
    short = run_cli(env, "staff", "add", "bob", stdin="short\n")
    assert short.returncode == 2 and "at least 10" in short.stderr
    bad_name = run_cli(env, "staff", "add", "bob smith", stdin=PASSWORD + "\n")
    assert bad_name.returncode == 2
    ok = run_cli(env, "staff", "add", "bob", stdin=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr
    raw = (tmp_path / "cli.db").read_bytes()
    assert PASSWORD.encode() not in raw and b"$argon2id$" in raw
    assert "bob\tactive" in run_cli(env, "staff", "list").stdout
    assert run_cli(env, "staff", "disable", "bob").returncode == 0
    assert "bob\tdisabled" in run_cli(env, "staff", "list").stdout


def test_disabled_account_cannot_log_in(console):
    assert run_cli(console.env, "staff", "add", "carol", stdin=PASSWORD + "\n").returncode == 0
    http = console.login("carol")
    assert http.get(console.url + "/staff/audit", allow_redirects=False).status_code == 200
    assert run_cli(console.env, "staff", "disable", "carol").returncode == 0
    assert http.get(console.url + "/staff/audit", allow_redirects=False).status_code == 303  # session ended
    fresh = requests.Session()
    token = csrf_of(fresh.get(console.url + "/staff/login").text)
    response = fresh.post(
        console.url + "/staff/login", data={"username": "carol", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 401
