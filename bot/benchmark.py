"""Latency figures for the REST channel and for NLU alone, against a baseline in the same run.

The baseline is a request to Rasa's root endpoint (HTTP round trip, no NLU, no dialogue),
so the difference is what our pipeline and actions cost per message on this machine.
`/model/parse` runs the NLU pipeline only (classifier, entities, fallback, crisis safety net).
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
import uuid
from typing import Dict, List

from bot.settings import Settings

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


def post_message(url: str, body: dict) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:
        response.read()


def _get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure(settings: Settings, rounds: int = 5) -> Dict[str, float]:
    """p50/p95 of a message round trip, of NLU alone and of the baseline, in milliseconds."""
    message_ms, parse_ms, baseline_ms = [], [], []
    parse_url = f"{settings.rasa_url}/model/parse?token={settings.rasa_token}"
    for _ in range(rounds):
        sender = uuid.uuid4().hex  # a fresh conversation per round, like a new visitor
        for text in MESSAGES:
            started = time.perf_counter()
            post_message(settings.rasa_webhook_url, {"sender": sender, "message": text})
            message_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            _get(f"{settings.rasa_url}/")
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


def format_figures(figures: Dict[str, float]) -> str:
    return "\n".join(f"{k:28} {v:10.1f}" if isinstance(v, float) else f"{k:28} {v:>10}" for k, v in figures.items())
