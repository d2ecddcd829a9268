"""The soak: many visitors at once for minutes, through the web app's `/api/chat` as the
widget posts, against the full stack (`bot soak`, `make soak`; a short run in CI).

Each visitor is closed-loop (the next message goes when the last is answered) and holds
short conversations of topic questions, small talk and, now and then, a crisis message,
each conversation under a new random id in the widget's format. Afterwards the `user`
events stored for those conversations are counted in the transcript database: each message
sent must be there exactly once. The resident memory of the three processes is read from
/proc after the warm-up and at the end of the load; a leak shows as drift.

Requests come from loopback without a forwarded address, which the web app never
rate-limits (bot.web.security.limit_key), so the limits measure nothing here.
"""

from __future__ import annotations

import asyncio
import collections
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, TextIO, Tuple

import httpx
import sqlalchemy as sa

from bot.benchmark import MESSAGES, percentile
from bot.settings import REGIONS, Settings

# What visitors type, by kind. Topic questions are the benchmark's, plus wordings as people
# type them (lower case, slang, families asking about someone else).
CRISIS = [
    "i want to kill myself",
    "my brother took too much and he wont wake up",
    "i cant do this anymore, i have the pills here",
    "my mate is turning blue after using",
]
TOPICS = [m for m in MESSAGES if m not in CRISIS] + [
    "how bad is clucking",
    "can i detox at home",
    "whats the difference between methadone and subutex",
    "my daughter is on heroin what do i do",
    "how do i get naloxone",
    "is it safe to stop cold turkey",
    "cant sleep in withdrawal, any tips",
    "where can i get help near me",
]
SMALL_TALK = ["hi", "hello", "thanks", "ok", "yes", "no", "who are you", "thank you, bye"]
CRISIS_SHARE = 0.03  # about one message in 33

TARGET_DRIFT_PCT = 10.0
PROCESSES = ("rasa", "actions", "web")


def conversation(rng: random.Random) -> List[Tuple[str, str]]:
    """One visitor's conversation as (kind, text): a greeting now and then, a few
    questions, small talk."""
    turns = [("small talk", rng.choice(SMALL_TALK[:2]))] if rng.random() < 0.5 else []
    for _ in range(rng.randint(2, 6)):
        roll = rng.random()
        if roll < CRISIS_SHARE:
            turns.append(("crisis", rng.choice(CRISIS)))
        elif roll < 0.75:
            turns.append(("topic", rng.choice(TOPICS)))
        else:
            turns.append(("small talk", rng.choice(SMALL_TALK)))
    return turns


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (a server may fork workers)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, StopIteration, ValueError):
            continue  # it ended while we looked, or is a zombie without memory
    return total


@dataclass
class Result:
    users: int
    seconds: float
    warmup_seconds: float
    sent: int = 0
    empty: int = 0  # 200 with no bot message (an error too on /api/chat, see Channel)
    label: str = ""  # what the progress line says is running
    t0: float = 0.0  # perf_counter when the load began
    finished_s: List[float] = field(default_factory=list)  # when each answer came, from t0
    statuses: Dict[str, int] = field(default_factory=collections.Counter)
    kinds: Dict[str, int] = field(default_factory=collections.Counter)
    latencies_ms: List[float] = field(default_factory=list)
    conversations: List[str] = field(default_factory=list)
    stored: Optional[int] = None
    rss_warm: Dict[str, int] = field(default_factory=dict)
    rss_end: Dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> Dict[str, int]:
        return {status: n for status, n in sorted(self.statuses.items()) if status != "200"}

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def drift_pct(self, name: str) -> Optional[float]:
        warm, end = self.rss_warm.get(name), self.rss_end.get(name)
        return (end - warm) / warm * 100 if warm and end else None

    @property
    def memory_flat(self) -> bool:
        drifts = [self.drift_pct(n) for n in self.rss_warm]
        return bool(drifts) and all(d is not None and abs(d) <= TARGET_DRIFT_PCT for d in drifts)


@dataclass(frozen=True)
class Channel:
    """Where messages go: the web app's `/api/chat` as the widget posts, or Rasa's REST
    webhook (what `make bench` also drives, for the stock bot as well as ours)."""

    url: str
    rest: bool = False
    # The widget shows nothing for an empty answer, so on /api/chat it is an error; over
    # REST the stock bot legitimately says nothing to some texts of our mix.
    empty_is_error: bool = True
    timeout: float = 120.0  # a slow answer is measured, only a hung one is an error

    def body(self, conversation_id: str, text: str, region: str) -> Dict[str, Any]:
        if self.rest:
            return {"sender": conversation_id, "message": text, "metadata": {"region": region}}
        return {"conversation_id": conversation_id, "message": text, "region": region}

    def replies(self, payload: Any) -> List[Dict[str, Any]]:
        messages = payload if self.rest else payload.get("messages")
        return messages if isinstance(messages, list) else []


def web_channel(settings: Settings) -> Channel:
    return Channel(f"{settings.web_url}/api/chat")


async def send(
    client: httpx.AsyncClient, channel: Channel, result: Result, conversation_id: str, text: str, region: str
) -> Tuple[str, List[Dict[str, Any]]]:
    """One message, timed into `result`: its status ("200" or what went wrong) and replies."""
    started = time.perf_counter()
    result.sent += 1
    replies: List[Dict[str, Any]] = []
    try:
        # the whole request, queueing for a connection included, within the channel's timeout
        response = await asyncio.wait_for(
            client.post(channel.url, json=channel.body(conversation_id, text, region)), channel.timeout
        )
        status = str(response.status_code)
        if status == "200":
            replies = channel.replies(response.json())
            if not replies:
                result.empty += 1
                if channel.empty_is_error:
                    status = "200 but no messages"
    except asyncio.TimeoutError:
        status = f"no answer within {channel.timeout:g} s"
    except (httpx.HTTPError, ValueError, AttributeError) as error:
        status = type(error).__name__
    now = time.perf_counter()
    result.latencies_ms.append((now - started) * 1000)
    result.finished_s.append(now - result.t0)
    result.statuses[status] += 1
    return status, replies


Mix = Callable[[random.Random], List[Tuple[str, str]]]


class Visitors:
    """The closed-loop visitors and what they saw."""

    def __init__(self, channel: Channel, result: Result, seed: int, mix: Mix = conversation) -> None:
        self.channel = channel
        self.result = result
        self.rng = random.Random(seed)
        self.mix = mix

    async def visitor(self, client: httpx.AsyncClient, deadline: float) -> None:
        rng = random.Random(self.rng.random())
        while time.monotonic() < deadline:
            conversation_id, region = uuid.uuid4().hex, rng.choice(REGIONS)
            for turn, (kind, text) in enumerate(self.mix(rng)):
                if time.monotonic() >= deadline:
                    return
                if turn == 0:
                    self.result.conversations.append(conversation_id)
                self.result.kinds[kind] += 1
                await send(client, self.channel, self.result, conversation_id, text, region)


def count_stored_user_events(db_url: str, conversation_ids: Sequence[str]) -> int:
    from bot.transcripts.models import events

    engine = sa.create_engine(db_url)
    try:
        total = 0
        with engine.connect() as connection:
            for start in range(0, len(conversation_ids), 500):  # SQLite's bound-parameter limit
                chunk = list(conversation_ids[start : start + 500])
                query = (
                    sa.select(sa.func.count())
                    .select_from(events)
                    .where(events.c.type_name == "user", events.c.sender_id.in_(chunk))
                )
                total += connection.execute(query).scalar() or 0
        return total
    finally:
        engine.dispose()


def settled_count(db_url: str, conversation_ids: Sequence[str], expected: int, timeout: float = 60) -> int:
    """The stored count once it reaches `expected` or stops changing: a crisis message the
    web app answered itself is still on its way to Rasa when the visitor has its reply."""
    deadline = time.monotonic() + timeout
    last, still = -1, 0
    while True:
        count = count_stored_user_events(db_url, conversation_ids)
        if count == expected or time.monotonic() > deadline:
            return count
        still = still + 1 if count == last else 0
        if still >= 5:
            return count
        last = count
        time.sleep(1)


def run(
    settings: Settings,
    pids: Dict[str, int],
    users: int,
    seconds: float,
    warmup_seconds: Optional[float] = None,
    progress: Optional[TextIO] = sys.stderr,
    seed: int = 0,
) -> Result:
    """Drive `users` visitors for `seconds` against the web app of `settings`; `pids` are
    the processes whose memory is watched (name -> pid)."""
    result = closed_loop(web_channel(settings), pids, users, seconds, warmup_seconds, progress, seed)
    result.stored = settled_count(settings.db_url, result.conversations, result.sent)
    return result


def closed_loop(
    channel: Channel,
    pids: Dict[str, int],
    users: int,
    seconds: float,
    warmup_seconds: Optional[float] = None,
    progress: Optional[TextIO] = sys.stderr,
    seed: int = 0,
    mix: Mix = conversation,
    label: str = "",
    extra: Optional[Callable[[float], Awaitable[None]]] = None,
) -> Result:
    """`users` visitors, each sending its next message when the last is answered, for
    `seconds`; `extra(deadline)` runs beside them (make bench's crisis probes)."""
    warmup = min(60.0, seconds / 10) if warmup_seconds is None else warmup_seconds
    result = Result(users=users, seconds=seconds, warmup_seconds=warmup, label=label)
    visitors = Visitors(channel, result, seed, mix)

    async def drive() -> None:
        started = time.monotonic()
        result.t0 = time.perf_counter()
        deadline = started + seconds
        limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
        timeout = httpx.Timeout(channel.timeout)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as client:
            tasks = [asyncio.ensure_future(visitors.visitor(client, deadline)) for _ in range(users)]
            if extra is not None:
                tasks.append(asyncio.ensure_future(extra(deadline)))
            await watch(result, pids, started, deadline, progress)
            await asyncio.gather(*tasks)

    asyncio.run(drive())
    return result


async def watch(
    result: Result, pids: Dict[str, int], started: float, deadline: float, progress: Optional[TextIO]
) -> None:
    """Samples memory after the warm-up and just before the load stops; prints progress."""
    warm_at = started + result.warmup_seconds
    while True:
        now = time.monotonic()
        if not result.rss_warm and now >= warm_at:
            result.rss_warm = {name: rss_bytes(pid) for name, pid in pids.items()}
        if progress is not None:
            progress.write("\r" + progress_line(result, now - started, deadline - started) + " ")
            progress.flush()
        if now >= deadline - 1:
            result.rss_end = {name: rss_bytes(pid) for name, pid in pids.items()}
            if progress is not None:
                progress.write("\n")
            return
        next_sample = warm_at if not result.rss_warm else deadline - 1
        # a live progress line wants a tick a second; the samples alone need far fewer
        await asyncio.sleep(min(1.0 if progress is not None else 5.0, max(0.1, next_sample - now)))


def progress_line(result: Result, elapsed: float, total: float) -> str:
    rate = result.sent / elapsed if elapsed > 0 else 0.0
    p95 = percentile(result.latencies_ms, 0.95) / 1000 if result.latencies_ms else 0.0
    label = f"{result.label}  " if result.label else ""
    return (
        f"{label}{elapsed:5.0f}/{total:.0f} s  sent {result.sent}  errors {result.error_count}  "
        f"{rate:.1f} msg/s  p95 {p95:.2f} s"
    )


def mib(n: Optional[int]) -> str:
    return "" if n is None else f"{n / 2**20:.0f} MiB"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(result: Result, when: str = "", note: str = "") -> str:
    """The figures and targets as Markdown (also what `bot soak` prints)."""
    lat = result.latencies_ms
    rate = result.sent / result.seconds if result.seconds else 0.0
    errors = ", ".join(f"{status}: {n}" for status, n in result.errors.items()) or "none"
    lines = [
        "# Soak",
        "",
        f"{result.users} concurrent closed-loop visitors for {result.seconds / 60:.1f} min through `/api/chat`"
        f" (warm-up {result.warmup_seconds:.0f} s){', ' + when if when else ''}.",
        "",
    ]
    if note:
        lines += [note, ""]
    lines += [
        "| figure | value | target |",
        "|---|---|---|",
        f"| messages sent | {result.sent} ({', '.join(f'{k}: {n}' for k, n in sorted(result.kinds.items()))}) | |",
        f"| conversations | {len(result.conversations)} | |",
        f"| errors (any non-200, by status) | {result.error_count} ({errors}) |"
        f" 0: **{verdict(result.error_count == 0)}** |",
        f"| stored user events for those conversations | {result.stored} | = sent:"
        f" **{verdict(result.stored == result.sent)}** |",
        f"| throughput | {rate:.1f} msg/s | |",
    ]
    if lat:
        lines.append(
            f"| latency p50 / p95 / p99 | {statistics.median(lat):.0f} / {percentile(lat, 0.95):.0f} /"
            f" {percentile(lat, 0.99):.0f} ms | |"
        )
    for name in result.rss_warm:
        drift = result.drift_pct(name)
        target = f"≤ {TARGET_DRIFT_PCT:.0f} %: **{verdict(drift is not None and abs(drift) <= TARGET_DRIFT_PCT)}**"
        lines.append(
            f"| {name}: resident memory after warm-up → end (drift) | {mib(result.rss_warm.get(name))} →"
            f" {mib(result.rss_end.get(name))} ({'' if drift is None else f'{drift:+.1f} %'}) | {target} |"
        )
    lines += ["", f"Overall: **{verdict(passed(result))}**", ""]
    return "\n".join(lines)


def passed(result: Result) -> bool:
    return result.error_count == 0 and result.stored == result.sent and result.memory_flat
