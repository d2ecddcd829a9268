"""Scores from (expected, predicted) intent pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from bot.nlp.crisis_matcher import CRISIS_PRIORITY, SAFETY_CHECK

FALLBACK = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"


@dataclass
class IntentScores:
    n: int
    macro_f1: float
    accuracy: float
    per_intent: Dict[str, Tuple[float, float, float, int]]  # precision, recall, F1, support
    errors: List[Tuple[str, str, str]]  # text, expected, predicted
    labels: List[str]  # rows/columns of the confusion matrix
    confusion: np.ndarray

    def worst(self, count: int = 5) -> List[Tuple[str, float]]:
        return sorted(((i, s[2]) for i, s in self.per_intent.items()), key=lambda x: x[1])[:count]


def score(texts: Sequence[str], truth: Sequence[str], predicted: Sequence[str]) -> IntentScores:
    """Macro-F1 over the intents the set expects (a prediction outside them counts as an error)."""
    labels = sorted(set(truth))
    p, r, f, s = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    matrix_labels = labels + sorted(set(predicted) - set(labels))
    return IntentScores(
        n=len(truth),
        macro_f1=float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        accuracy=float(np.mean([t == q for t, q in zip(truth, predicted)])) if truth else 0.0,
        per_intent={label: (float(p[i]), float(r[i]), float(f[i]), int(s[i])) for i, label in enumerate(labels)},
        errors=[(x, t, q) for x, t, q in zip(texts, truth, predicted) if t != q],
        labels=matrix_labels,
        confusion=confusion_matrix(truth, predicted, labels=matrix_labels),
    )


def share(predicted: Sequence[str], names: Sequence[str]) -> float:
    """Fraction of predictions that are one of `names`."""
    return sum(p in names for p in predicted) / max(1, len(predicted))


def crisis_share(predicted: Sequence[str]) -> float:
    return share(predicted, CRISIS_PRIORITY)


def check_share(predicted: Sequence[str]) -> float:
    return share(predicted, [SAFETY_CHECK])


def crisis_or_check_share(predicted: Sequence[str]) -> float:
    return share(predicted, [*CRISIS_PRIORITY, SAFETY_CHECK])
