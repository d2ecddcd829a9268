"""Held-out NLU evaluation: intent macro-F1 and crisis recall of the trained model.

The held-out file (tests/nlu/holdout.yml) was written separately from the training
data; `check_disjoint` proves no example of it is trained on.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from sklearn.metrics import f1_score, precision_recall_fscore_support

from bot.nlp.crisis_matcher import CRISIS_PRIORITY
from bot.nlu_data import intent_examples
from bot.paths import DATA, ROOT

HOLDOUT = ROOT / "tests" / "nlu" / "holdout.yml"


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def check_disjoint(holdout: Path = HOLDOUT, training: Path = DATA / "nlu.yml") -> List[str]:
    """Held-out examples that also appear (ignoring case and punctuation) in training."""
    trained = {_key(t) for t, _ in intent_examples(training)}
    return [t for t, _ in intent_examples(holdout) if _key(t) in trained]


@dataclass
class Report:
    n: int
    macro_f1: float
    crisis_recall: Dict[str, float]
    escalation_recall: float  # crisis examples answered with any crisis reply
    per_intent: Dict[str, Tuple[float, float, float, int]]
    errors: List[Tuple[str, str, str]]


def evaluate(model_path: Path, holdout: Path = HOLDOUT) -> Report:
    from rasa.core.agent import Agent  # heavy import, only when evaluating

    agent = Agent.load(str(model_path))
    pairs = intent_examples(holdout)

    async def parse_all() -> List[str]:
        return [(await agent.parse_message(text))["intent"]["name"] for text, _ in pairs]

    predicted = asyncio.run(parse_all())
    truth = [intent for _, intent in pairs]
    labels = sorted(set(truth))
    p, r, f, s = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    crisis_pairs = [(t, pr) for t, pr in zip(truth, predicted) if t in CRISIS_PRIORITY]
    return Report(
        n=len(pairs),
        macro_f1=float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        crisis_recall={c: float(r[labels.index(c)]) for c in CRISIS_PRIORITY if c in labels},
        escalation_recall=sum(pr in CRISIS_PRIORITY for _, pr in crisis_pairs) / max(1, len(crisis_pairs)),
        per_intent={l: (float(p[i]), float(r[i]), float(f[i]), int(s[i])) for i, l in enumerate(labels)},
        errors=[(text, t, pr) for (text, t), pr in zip(pairs, predicted) if t != pr],
    )


def format_report(report: Report) -> str:
    lines = [f"{'intent':32} {'prec':>5} {'rec':>5} {'f1':>5} {'n':>3}"]
    for intent, (p, r, f, n) in report.per_intent.items():
        lines.append(f"{intent:32} {p:5.2f} {r:5.2f} {f:5.2f} {n:3d}")
    lines.append("")
    lines.append(f"held-out examples: {report.n}")
    lines.append(f"intent macro-F1: {report.macro_f1:.3f}")
    for intent, recall in report.crisis_recall.items():
        lines.append(f"recall {intent}: {recall:.2f}")
    lines.append(f"crisis messages escalated (any crisis reply): {report.escalation_recall:.2f}")
    if report.errors:
        lines.append("\nmisclassified:")
        lines += [f"  {t!r}: expected {e}, got {p}" for t, e, p in report.errors]
    return "\n".join(lines)
