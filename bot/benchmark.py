"""`make bench`'s measurements: this product against the bot `rasa init` makes, same load.

The stock bot is built once under build/stock-bot with the project venv's Rasa (same
version), trained there, and run with `rasa run --enable-api` on a free loopback port; it
keeps its trackers in memory and calls no action server (its rules and stories use only
`utter_` responses). Both bots get the same texts (bot.soak's topic questions, small talk
and one crisis message in 20), so the input load is the same even though the stock bot
answers them with its own intents.

The load drivers are bot.soak's (asyncio + httpx): closed loop (each conversation sends its
next message when the last is answered) and here also open loop (Poisson arrivals at a
fixed average rate over many conversations, whatever the server's speed, the way visitors
arrive). A request not answered within `OPEN_LOOP_TIMEOUT` counts as an error.

`measure` is the older serial figure kept for issue 8: REST round trip and `/model/parse`
(the NLU pipeline alone) against Rasa's root endpoint as the baseline, in the same run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

import httpx

from bot import contacts
from bot.settings import REGIONS

MESSAGES = [
    "how long does heroin withdrawal last",
    "what is naloxone",
    "my son is using gear, how can i help him",
    "when can i start subutex after methadone",
    "what are the signs of an overdose",
    "i want to kill myself",
    "what medicines are used in detox",
    "is methadone just swapping one drug for another",
]

OPEN_LOOP_TIMEOUT = 30.0
CONVERSATION_TURNS = 5  # a new conversation id every 5 messages in the closed loop


def post_message(url: str, body: dict, timeout: float = 60) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def _get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure_urls(rasa_url: str, webhook_url: str, parse_url: str, rounds: int = 5) -> Dict[str, float]:
    """p50/p95 of a message round trip, of NLU alone and of the baseline, in milliseconds."""
    message_ms, parse_ms, baseline_ms = [], [], []
    for _ in range(rounds):
        sender = uuid.uuid4().hex  # a fresh conversation per round, like a new visitor
        for text in MESSAGES:
            started = time.perf_counter()
            post_message(webhook_url, {"sender": sender, "message": text})
            message_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            _get(f"{rasa_url}/")
            baseline_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            post_message(parse_url, {"text": text})
            parse_ms.append((time.perf_counter() - started) * 1000)
    return {
        "messages": len(message_ms),
        "p50_ms": statistics.median(message_ms),
        "p95_ms": percentile(message_ms, 0.95),
        "model_parse_p50_ms": statistics.median(parse_ms),
        "model_parse_p95_ms": percentile(parse_ms, 0.95),
        "baseline_p50_ms": statistics.median(baseline_ms),
        "baseline_p95_ms": percentile(baseline_ms, 0.95),
    }


def measure(settings: Any, rounds: int = 5) -> Dict[str, float]:
    """`measure_urls` for the Rasa server of `settings` (bot.settings.Settings)."""
    parse_url = f"{settings.rasa_url}/model/parse?token={settings.rasa_token}"
    return measure_urls(settings.rasa_url, settings.rasa_webhook_url, parse_url, rounds)


def format_figures(figures: Dict[str, Any]) -> str:
    return "\n".join(f"{k:28} {v:10.1f}" if isinstance(v, float) else f"{k:28} {v:>10}" for k, v in figures.items())


# --- the message mix ---------------------------------------------------------------


class CycleMix:
    """Conversations of `CONVERSATION_TURNS` messages cut from one shared cycle of 20:
    exactly one crisis message in 20 across all conversations, 16 topic questions, 3 bits
    of small talk. A soak.Mix (the rng is not needed: the share is exact, not drawn)."""

    def __init__(self) -> None:
        from bot.soak import CRISIS, SMALL_TALK, TOPICS

        topics, talk, crisis = itertools.cycle(TOPICS), itertools.cycle(SMALL_TALK), itertools.cycle(CRISIS)
        cycle: List[Tuple[str, str]] = []
        for _ in range(len(TOPICS) * len(CRISIS)):  # every text comes round
            for position in range(20):
                if position == 19:
                    cycle.append(("crisis", next(crisis)))
                elif position in (4, 9, 14):
                    cycle.append(("small talk", next(talk)))
                else:
                    cycle.append(("topic", next(topics)))
        self.turns = itertools.cycle(cycle)

    def __call__(self, rng: random.Random) -> List[Tuple[str, str]]:
        return [next(self.turns) for _ in range(CONVERSATION_TURNS)]


# --- figures of one load run ---------------------------------------------------------


def summary(result: Any, seconds: float, open_loop: bool = False) -> Dict[str, Any]:
    """The figures of a bot.soak.Result: rate over the load's own window (answers that came
    after it are in the latencies, not in the rate), percentiles, errors by status."""
    lat = result.latencies_ms
    ok = result.statuses.get("200", 0)
    if open_loop:
        span = max([seconds] + result.finished_s)
        rate = ok / span if span else 0.0
    else:
        rate = sum(1 for t in result.finished_s if t <= seconds) / seconds
    figures: Dict[str, Any] = {
        "sent": result.sent,
        "answered_200": ok,
        "errors": result.error_count,
        "errors_by_status": dict(result.errors),
        "empty_answers": result.empty,
        "msg_per_s": rate,
        "p50_ms": statistics.median(lat) if lat else None,
        "p95_ms": percentile(lat, 0.95) if lat else None,
        "p99_ms": percentile(lat, 0.99) if lat else None,
        "kinds": dict(result.kinds),
    }
    if open_loop:
        figures["offered_per_s"] = result.sent / seconds
    if result.rss_end:
        figures["rss_end_bytes"] = dict(result.rss_end)
    return figures


# --- open loop -------------------------------------------------------------------------


def open_loop(
    channel: Any,
    rate: float,
    seconds: float,
    conversations: int = 300,
    seed: int = 0,
    label: str = "",
    progress: Optional[TextIO] = sys.stderr,
) -> Any:
    """Messages at `rate` per second on average, exponential gaps (Poisson arrivals), each
    the next turn of one of `conversations` conversations picked at random; the arrivals
    never wait for answers. Returns a bot.soak.Result."""
    from bot import soak

    result = soak.Result(users=conversations, seconds=seconds, warmup_seconds=0.0, label=label)
    rng = random.Random(seed)
    mix = CycleMix()
    pool = [(uuid.uuid4().hex, rng.choice(REGIONS)) for _ in range(conversations)]
    pending: Dict[int, List[Tuple[str, str]]] = {}

    def next_turn(index: int) -> Tuple[str, str, str, str]:
        turns = pending.get(index) or mix(rng)
        kind, text = turns[0]
        pending[index] = turns[1:]
        conversation_id, region = pool[index]
        if not turns[1:]:  # that conversation is over: the slot's next visitor is new
            pool[index] = (uuid.uuid4().hex, rng.choice(REGIONS))
        return kind, text, conversation_id, region

    async def drive() -> None:
        started = time.monotonic()
        result.t0 = time.perf_counter()
        deadline = started + seconds
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=httpx.Timeout(channel.timeout), limits=limits, trust_env=False) as client:
            tasks: List[asyncio.Future[Any]] = []
            ticker = asyncio.ensure_future(soak.watch(result, {}, started, deadline, progress))
            arrival = started
            while True:
                arrival += rng.expovariate(rate)
                if arrival >= deadline:
                    break
                await asyncio.sleep(max(0.0, arrival - time.monotonic()))
                kind, text, conversation_id, region = next_turn(rng.randrange(conversations))
                if conversation_id not in result.conversations:
                    result.conversations.append(conversation_id)
                result.kinds[kind] += 1
                tasks.append(asyncio.ensure_future(soak.send(client, channel, result, conversation_id, text, region)))
            await ticker
            await asyncio.gather(*tasks)

    asyncio.run(drive())
    return result


# --- crisis replies under load ------------------------------------------------------------


def crisis_prober(channel: Any, result: Any, interval: float = 0.25) -> Any:
    """An `extra` for soak.closed_loop: every `interval` seconds a new conversation sends
    one crisis message through `channel` (the web app); a reply without the region's
    emergency number from data/contacts.yml is an error."""
    from bot import soak

    async def probe(client: httpx.AsyncClient, index: int) -> None:
        region = REGIONS[index % len(REGIONS)]
        text = soak.CRISIS[index % len(soak.CRISIS)]
        result.kinds["crisis"] += 1
        status, replies = await soak.send(client, channel, result, uuid.uuid4().hex, text, region)
        number = contacts.for_region(region)["emergency"]["number"]
        if status == "200" and not any(number in str(reply.get("text", "")) for reply in replies):
            result.statuses["200"] -= 1
            result.statuses[f"200 without {number}"] += 1

    async def run(deadline: float) -> None:
        result.t0 = time.perf_counter()
        # its own connections: a probe must not queue for the load's pool, only for the server
        async with httpx.AsyncClient(timeout=httpx.Timeout(channel.timeout), trust_env=False) as client:
            tasks = []
            for index in itertools.count():
                if time.monotonic() >= deadline:
                    break
                tasks.append(asyncio.ensure_future(probe(client, index)))
                await asyncio.sleep(interval)
            await asyncio.gather(*tasks)

    return run


# --- growth of one conversation -----------------------------------------------------------


GROWTH_TEXTS = [text for text in MESSAGES if text != "i want to kill myself"] + ["thanks"]


def growth(
    webhook_url: str, turns: int = 200, window: int = 8, progress: Optional[TextIO] = sys.stderr
) -> Dict[str, Any]:
    """One conversation of `turns` messages, closed loop, one user: the median latency of
    the `window` turns at its start, around turn 50 and at its end. The texts cycle with
    period `window`, so each window holds the same texts."""
    sender = uuid.uuid4().hex
    texts = itertools.cycle(GROWTH_TEXTS[:window])
    latencies: List[float] = []
    for turn in range(1, turns + 1):
        started = time.perf_counter()
        post_message(webhook_url, {"sender": sender, "message": next(texts)}, timeout=OPEN_LOOP_TIMEOUT)
        latencies.append((time.perf_counter() - started) * 1000)
        if progress is not None:
            progress.write(f"\rgrowth  turn {turn}/{turns}  last {latencies[-1]:.0f} ms ")
            progress.flush()
    if progress is not None:
        progress.write("\n")
    points = {1: latencies[:window], 50: latencies[46 : 46 + window], turns: latencies[-window:]}
    return {
        "turns": turns,
        "window": window,
        "median_ms_at_turn": {str(turn): statistics.median(values) for turn, values in points.items() if values},
        "latencies_ms": latencies,
    }


# --- database size ------------------------------------------------------------------------


def sqlite_size(db_file: Path) -> Dict[str, Any]:
    """The SQLite file (with its WAL, once the servers are gone) and how many conversations
    and events it holds, scaled to 1,000 conversations."""
    files = [db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")]
    size = sum(f.stat().st_size for f in files if f.exists())
    with sqlite3.connect(db_file) as connection:
        conversations, events = connection.execute("SELECT COUNT(DISTINCT sender_id), COUNT(*) FROM events").fetchone()
    return {
        "bytes": size,
        "conversations": conversations,
        "events": events,
        "bytes_per_1000_conversations": size / conversations * 1000 if conversations else None,
    }


# --- the stock bot ---------------------------------------------------------------------------


def first_answer(webhook_url: str, timeout: float = 300, proc: Optional[subprocess.Popen] = None) -> None:
    """Wait until the REST webhook answers "hello" with at least one message."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server behind {webhook_url} exited with code {proc.returncode}")
        try:
            if post_message(webhook_url, {"sender": uuid.uuid4().hex, "message": "hello"}, timeout=30):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{webhook_url} gave no answer within {timeout:.0f} s")
        time.sleep(0.25)
