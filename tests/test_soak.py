"""The short soak: 10 concurrent visitors for 45 s through the real web app's /api/chat,
against the session's stack. Every message gets a 200 with something to show, and each
one is stored exactly once as a `user` event. Memory drift is printed, not asserted: 45 s
is too short for it to mean anything (`make soak` runs 50 visitors for 10 minutes)."""

from __future__ import annotations

import pytest

from bot import soak

pytestmark = pytest.mark.stack

USERS = 10
SECONDS = 45


def test_concurrent_conversations_get_answers_and_every_message_is_stored(stack):
    assert "web" in stack.procs, "the stack did not start the web app"
    pids = {name: stack.procs[name].pid for name in soak.PROCESSES}
    result = soak.run(stack.settings, pids, USERS, SECONDS, warmup_seconds=10, progress=None, seed=10)
    print("\n" + soak.report(result, note="Short CI run: memory drift is printed, not asserted."))

    assert result.sent >= USERS * 3, f"only {result.sent} messages in {SECONDS} s: the stack hardly answered"
    assert result.error_count == 0, f"errors by status: {result.errors}"
    assert result.stored == result.sent, f"{result.sent} messages sent, {result.stored} user events stored"
