"""The evaluation of the shipped model: every set, its figures, the markdown report and the
confusion-matrix image (results/evaluation.md, results/confusion.png)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from bot.evaluation import sets
from bot.evaluation.parsing import Parser
from bot.evaluation.scoring import (
    FALLBACK,
    OUT_OF_SCOPE,
    SAFETY_CHECK,
    IntentScores,
    check_share,
    crisis_or_check_share,
    crisis_share,
    score,
    share,
)
from bot.nlp.crisis_matcher import CRISIS_PRIORITY
from bot.nlu_data import intent_examples
from bot.paths import ROOT

RESULTS = ROOT / "results"


@dataclass
class SuiteResult:
    paraphrases: IntentScores
    crisis_recall: Dict[str, float]  # per crisis intent, paraphrases + implied, right intent
    escalation: Dict[str, float]  # per implied category and overall: any crisis intent
    checked: Dict[str, float]  # the same, counting the safety check as reaching them
    out_of_scope: Dict[str, float]  # n, recognised, not answered as a topic, crisis
    figurative: Dict[str, float]  # crisis share per kind and overall
    misses: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)  # kind -> (text, got)


@dataclass
class Evaluation:
    suites: Dict[str, SuiteResult]
    holdout: IntentScores
    everyday: Dict[str, float]  # n and crisis share
    everyday_misses: List[Tuple[str, str]]
    cross_validation: Optional[IntentScores] = None


def _run(parser: Parser, pairs):
    texts = [t for t, _ in pairs]
    return texts, [i for _, i in pairs], parser.intents(texts)


def evaluate_suite(parser: Parser, suite: sets.Suite) -> SuiteResult:
    paraphrase_pairs = intent_examples(suite.paraphrases)
    paraphrases = score(*_run(parser, paraphrase_pairs))

    implied = sets.implied_crises(suite.implied)
    # (category, text, intent): the paraphrase set's crisis examples, then each implied category
    tagged = [("paraphrases", t, i) for t, i in paraphrase_pairs if i in CRISIS_PRIORITY]
    tagged += [(category, t, i) for category, pairs in implied.items() for t, i in pairs]
    c_texts, c_truth = [t for _, t, _ in tagged], [i for _, _, i in tagged]
    c_pred = parser.intents(c_texts)
    recall = {}
    for crisis in CRISIS_PRIORITY:
        got = [p for t, p in zip(c_truth, c_pred) if t == crisis]
        recall[crisis] = sum(p == crisis for p in got) / max(1, len(got))
    escalation = {
        category: crisis_share([p for (c, _, _), p in zip(tagged, c_pred) if c == category]) for category in implied
    }
    escalation["all crisis examples"] = crisis_share(c_pred)
    checked = {
        category: crisis_or_check_share([p for (c, _, _), p in zip(tagged, c_pred) if c == category])
        for category in implied
    }
    checked["all crisis examples"] = crisis_or_check_share(c_pred)
    misses = {"crisis": [(t, p) for t, e, p in zip(c_texts, c_truth, c_pred) if p != e]}

    o_texts, _, o_pred = _run(parser, intent_examples(suite.out_of_scope))
    out_of_scope = {
        "n": len(o_pred),
        "recognised": share(o_pred, [OUT_OF_SCOPE]),
        "not answered as a topic": share(o_pred, [OUT_OF_SCOPE, FALLBACK, SAFETY_CHECK]),
        "crisis": crisis_share(o_pred),
        "safety check": check_share(o_pred),
    }
    misses["out_of_scope"] = [(t, p) for t, p in zip(o_texts, o_pred) if p != OUT_OF_SCOPE]

    figurative, every = {}, []
    misses["figurative"] = []
    for kind, pairs in sets.figurative(suite.figurative).items():
        texts, _, predicted = _run(parser, pairs)
        figurative[kind] = crisis_share(predicted)
        figurative[f"{kind}, safety check"] = check_share(predicted)
        every += predicted
        misses["figurative"] += [(t, p) for t, p in zip(texts, predicted) if p in CRISIS_PRIORITY]
    figurative["all"] = crisis_share(every)
    figurative["all, safety check"] = check_share(every)
    return SuiteResult(paraphrases, recall, escalation, checked, out_of_scope, figurative, misses)


def evaluate(model: Path) -> Evaluation:
    parser = Parser(model)
    suites = {suite.name: evaluate_suite(parser, suite) for suite in sets.SUITES}
    holdout = score(*_run(parser, intent_examples(sets.HOLDOUT)))
    everyday_texts = sets.everyday()
    predicted = parser.intents(everyday_texts)
    everyday = {"n": len(predicted), "crisis": crisis_share(predicted), "safety check": check_share(predicted)}
    misses = [(t, p) for t, p in zip(everyday_texts, predicted) if p in CRISIS_PRIORITY]
    return Evaluation(suites, holdout, everyday, misses)


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _scores_table(scores: IntentScores) -> List[str]:
    lines = ["| intent | precision | recall | F1 | n |", "|---|---|---|---|---|"]
    for intent, (p, r, f, n) in scores.per_intent.items():
        lines.append(f"| {intent} | {p:.2f} | {r:.2f} | {f:.2f} | {n} |")
    return lines


def suite_rows(ev: Evaluation) -> List[str]:
    names = list(ev.suites)
    results = [ev.suites[n] for n in names]

    def row(label: str, values: List[str]) -> str:
        return f"| {label} | " + " | ".join(values) + " |"

    lines = [row("figure", [f"{n} sets" for n in names]), "|---|" + "---|" * len(names)]
    lines.append(
        row(
            "paraphrases never trained on: macro-F1",
            [f"**{r.paraphrases.macro_f1:.3f}** ({r.paraphrases.n})" for r in results],
        )
    )
    lines.append(row("paraphrases: accuracy", [f"{r.paraphrases.accuracy:.3f}" for r in results]))
    lines.append(
        row(
            "paraphrases: five worst intents (F1)",
            [", ".join(f"{i} {f:.2f}" for i, f in r.paraphrases.worst()) for r in results],
        )
    )
    for crisis in CRISIS_PRIORITY:
        lines.append(
            row(f"crisis recall, {crisis} (right crisis intent)", [f"{r.crisis_recall[crisis]:.2f}" for r in results])
        )
    categories = list(dict.fromkeys(c for r in results for c in r.escalation))
    for category in categories:
        lines.append(
            row(
                f"escalated to a crisis reply (or asked: safety check): {category}",
                [
                    f"{r.escalation[category]:.2f} ({r.checked[category]:.2f})" if category in r.escalation else "-"
                    for r in results
                ],
            )
        )
    lines.append(
        row(
            "unrelated messages recognised as out of scope",
            [f"{_pct(r.out_of_scope['recognised'])} ({r.out_of_scope['n']})" for r in results],
        )
    )
    lines.append(
        row(
            "unrelated messages not answered as a topic (out of scope or fallback)",
            [_pct(r.out_of_scope["not answered as a topic"]) for r in results],
        )
    )
    lines.append(row("unrelated messages classified as crisis", [_pct(r.out_of_scope["crisis"]) for r in results]))
    lines.append(
        row("unrelated messages asked the safety check", [_pct(r.out_of_scope["safety check"]) for r in results])
    )
    for kind in ("figurative", "informational", "all"):
        lines.append(
            row(
                f"crisis words, {kind}: classified as crisis (asked the safety check)",
                [f"{_pct(r.figurative[kind])} ({_pct(r.figurative[kind + ', safety check'])})" for r in results],
            )
        )
    return lines


def markdown(ev: Evaluation, model: Path) -> str:
    lines = [
        "# NLU evaluation",
        "",
        f"Model: `{model.name}`. Produced by `make evaluate`. Each suite was written by its own "
        "author without seeing the training data. The main sets guided the work by error "
        "category; the blind sets' figures were read after each round; the fresh and fourth sets "
        "were each measured once and then used by error category; the fifth was measured once "
        "(macro-F1 0.908, crisis reply 0.96) after the round it judged, then used by error "
        "category for the crisis rules of the next round; the sixth was measured once (macro-F1 "
        "0.927, crisis reply 0.96, 3 of 221 crisis examples answered as a topic) before its errors "
        'chose round 8, so no column here is unseen any more (README, "Understanding").',
        "",
    ]
    lines += suite_rows(ev)
    lines += [
        "",
        "| figure | value |",
        "|---|---|",
        f"| older held-out set: macro-F1 ({ev.holdout.n}) | {ev.holdout.macro_f1:.3f} |",
        f"| everyday utterances by other people (chatterbot-corpus, {ev.everyday['n']}): "
        f"classified as crisis | {_pct(ev.everyday['crisis'])} |",
        f"| the same: asked the safety check | {_pct(ev.everyday['safety check'])} |",
    ]
    if ev.cross_validation is not None:
        cv = ev.cross_validation
        worst = ", ".join(f"{i} {f:.2f}" for i, f in cv.worst())
        lines.append(
            f"| training data ({cv.n}), k-fold cross-validation: macro-F1 | {cv.macro_f1:.3f} (worst: {worst}) |"
        )
    main = ev.suites[sets.MAIN.name]
    lines += [
        "",
        "![Confusion matrix on the main paraphrase set](confusion.png)",
        "",
        "## Per intent, main paraphrase set",
        "",
    ] + _scores_table(main.paraphrases)
    lines += ["", "## Errors on the main sets", ""]
    lines += [f"- paraphrase {t!r}: expected {e}, got {p}" for t, e, p in main.paraphrases.errors]
    for kind, items in main.misses.items():
        lines += [f"- {kind} {t!r}: got {p}" for t, p in items]
    lines += [f"- everyday {t!r}: got {p}" for t, p in ev.everyday_misses]
    return "\n".join(lines) + "\n"


def confusion_png(scores: IntentScores, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(8, len(scores.labels) * 0.32)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(scores.confusion, cmap="Blues")
    ax.set_xticks(range(len(scores.labels)))
    ax.set_yticks(range(len(scores.labels)))
    ax.set_xticklabels(scores.labels, rotation=90, fontsize=7)
    ax.set_yticklabels(scores.labels, fontsize=7)
    for (row, col), value in np.ndenumerate(scores.confusion):
        if value:
            ax.text(
                col,
                row,
                str(value),
                ha="center",
                va="center",
                fontsize=6,
                color="white" if value > scores.confusion.max() / 2 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(ev: Evaluation, model: Path, directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    main = ev.suites[sets.MAIN.name].paraphrases
    confusion_png(
        main, directory / "confusion.png", f"Main paraphrase set, never trained on: macro-F1 {main.macro_f1:.3f}"
    )
    report = directory / "evaluation.md"
    report.write_text(markdown(ev, model), encoding="utf-8")
    return report
