"""`bot run` stops every child however it is stopped, and keeps the API token off `ps`.

Each case starts `bot run` as a person does (its own process group, free ports, a fresh
SQLite file), waits until the web app answers, stops it one way and checks that the three
ports are free and every child is gone within 10 s. The first case also checks the Rasa
API token: on no child's command line, and still required by the API.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List

import pytest

from bot.paths import ROOT
from bot.stack import latest_model, wait_until_up
from tests.conftest import ARTIFACTS, free_port

pytestmark = pytest.mark.stack

BOT = Path(sys.executable).with_name("bot")
TOKEN = "clean-stop-token-4f1d9c2b7e"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def children_of(pid: int) -> List[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGTERM to the group", "SIGKILL"])
def test_bot_run_leaves_nothing_behind(how: str, tmp_path: Path) -> None:
    if latest_model() is None:
        pytest.skip("no trained model: run `make train`")
    ports: Dict[str, int] = {"RASA_PORT": free_port(), "ACTIONS_PORT": free_port(), "WEB_PORT": free_port()}
    env = dict(os.environ, RASA_TOKEN=TOKEN, BOT_DB_URL=f"sqlite:///{tmp_path / 'bot.db'}")
    env.update({name: str(port) for name, port in ports.items()})
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "clean-stop.log", "ab") as log:
        proc = subprocess.Popen([str(BOT), "run"], cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    children: List[int] = []
    try:
        wait_until_up(f"http://127.0.0.1:{ports['WEB_PORT']}/healthz", 240, proc)
        children = children_of(proc.pid)
        assert len(children) == 3, children

        if how == "SIGINT":  # once per run is enough: the token, then the stop
            for child in children:
                assert TOKEN not in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
            rasa = f"http://127.0.0.1:{ports['RASA_PORT']}/status"
            assert status(rasa) == 401
            assert status(f"{rasa}?token=wrong") == 401
            assert status(f"{rasa}?token={TOKEN}") == 200

        if how == "SIGTERM to the group":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(getattr(signal, how))

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(port_free(p) for p in ports.values()) and not any(alive(c) for c in children):
                break
            time.sleep(0.2)
        assert {name: port for name, port in ports.items() if not port_free(port)} == {}
        assert [c for c in children if alive(c)] == []
        assert proc.wait(timeout=10) == (-9 if how == "SIGKILL" else 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for child in children:  # never leave a stray server behind a failed test
            if alive(child):
                os.kill(child, signal.SIGKILL)
