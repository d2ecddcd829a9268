"""Issue 10, "Faults": each test breaks one real part of a running stack and checks what a
visitor notices. During the fault every crisis message still shows the region's emergency
number and a crisis line (as the crisis reply, or as the contacts the widget shows with a
503), and every other message gets a reply or the contacts, never silence. When the part
comes back the same conversation goes on, and every event stored before is still there.

Each test prints its figures: numbers shown, crisis reply itself, events kept.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections import Counter
from typing import Iterator, List

import pytest

from tests.faults.conftest import (
    LATER,
    TOPIC,
    conversation_goes_on,
    crisis_during_fault,
    db_file,
    event_ids,
    started_conversation,
    useful,
    user_events,
)

pytestmark = pytest.mark.stack


def test_action_server_stopped(fault_stack, visitor):
    conversation_id, kept = started_conversation(fault_stack, visitor)
    fault_stack.stop("actions")
    try:
        crisis_during_fault(visitor, "action server stopped")
        status, payload = visitor.say("what are the signs of an overdose", conversation_id)
        assert useful(status, payload), f"silent with the action server stopped: {status} {payload}"
    finally:
        fault_stack.start_actions()
    conversation_goes_on(fault_stack, visitor, conversation_id, kept, "the action server came back")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_rasa_down(fault_stack, visitor, how):
    conversation_id, kept = started_conversation(fault_stack, visitor)
    os.killpg(fault_stack.procs["rasa"].pid, how)
    fault_stack.procs["rasa"].wait(timeout=30)
    try:
        crisis_during_fault(visitor, f"Rasa {signal.Signals(how).name}")
        status, payload = visitor.say(TOPIC, conversation_id)
        assert status == 503 and useful(status, payload), f"Rasa down: {status} {payload}"
    finally:
        fault_stack.stop("rasa")
        fault_stack.start_rasa()
    conversation_goes_on(fault_stack, visitor, conversation_id, kept, f"Rasa restarted after {how.name}")


def test_rasa_killed_mid_conversation_under_load(fault_stack, visitor):
    """Eight conversations keep talking while Rasa is killed outright and started again."""
    stop = threading.Event()
    results: List[tuple] = []  # (conversation, status, useful)
    conversations = [uuid.uuid4().hex for _ in range(8)]
    questions = [TOPIC, LATER, "what helps with cravings", "what is methadone", "how do i find a detox"]

    def talk(conversation_id: str) -> None:
        turn = 0
        while not stop.is_set():
            status, payload = visitor.say(questions[turn % len(questions)], conversation_id)
            results.append((conversation_id, status, useful(status, payload)))
            turn += 1
            if status != 200:
                time.sleep(0.5)  # as the widget does: wait, then try again

    threads = [threading.Thread(target=talk, args=(c,)) for c in conversations]
    for thread in threads:
        thread.start()
    try:
        time.sleep(8)
        os.killpg(fault_stack.procs["rasa"].pid, signal.SIGKILL)
        fault_stack.procs["rasa"].wait(timeout=30)
        kept = {c: event_ids(fault_stack, c) for c in conversations}  # nothing writes now
        crisis_during_fault(visitor, "Rasa killed under load", size=10)
        fault_stack.stop("rasa")
        fault_stack.start_rasa()
        time.sleep(8)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    statuses = Counter(status for _, status, _ in results)
    answered = Counter(c for c, status, _ in results if status == 200)
    lost = sum(len(kept[c] - event_ids(fault_stack, c)) for c in conversations)
    unstored = {c: answered[c] - user_events(fault_stack, c) for c in conversations}
    print(f"\nRasa killed under load: {len(results)} messages, statuses {dict(statuses)}; stored events lost {lost}")
    assert all(ok for _, _, ok in results), "a visitor got neither a reply nor the contacts"
    assert set(statuses) <= {200, 503}
    assert statuses[200] > len(conversations), "the conversations did not go on after Rasa came back"
    assert lost == 0
    # every message Rasa answered is in the transcript
    assert all(n <= 0 for n in unstored.values()), unstored


@contextlib.contextmanager
def exclusive_lock(path) -> Iterator[None]:
    """Another program holding the database: SQLite's EXCLUSIVE lock shuts out every writer
    (and, in rollback-journal mode, every reader) until it is released."""
    holder = sqlite3.connect(path, timeout=30, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@contextlib.contextmanager
def read_only(folder) -> Iterator[None]:
    """The database and its folder made immutable (chattr +i binds root too, as a read-only
    mount would): reads work, every write and journal file fails."""
    files = [folder, *sorted(folder.iterdir())]
    subprocess.run(["chattr", "+i", *map(str, files)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True)


@contextlib.contextmanager
def gone(folder) -> Iterator[None]:
    """The database's folder disappears (an unmounted volume), and comes back."""
    away = folder.with_name(folder.name + "-away")
    shutil.move(str(folder), str(away))
    try:
        yield
    finally:
        shutil.move(str(away), str(folder))


@pytest.mark.parametrize("fault", ["locked", "read-only", "gone"])
def test_database_fault(fault_stack, visitor, fault):
    conversation_id, kept = started_conversation(fault_stack, visitor)
    path = db_file(fault_stack)
    breaking = {"locked": lambda: exclusive_lock(path), "read-only": lambda: read_only(path.parent)}
    breaking["gone"] = lambda: gone(path.parent)
    with breaking[fault]():
        crisis_during_fault(visitor, f"database {fault}", size=10)
        status, payload = visitor.say("what are the signs of an overdose", conversation_id)
        assert useful(status, payload), f"database {fault}: {status} {payload}"
    conversation_goes_on(fault_stack, visitor, conversation_id, kept, f"the database was {fault}")
