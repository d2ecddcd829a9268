"""The classifier candidates, measured side by side on the same data (`make compare`).

Each candidate is the shipped pipeline (config.yml) with its classifier part swapped:
the spaCy head and the tail (entities, fallback, region, crisis safety net) stay the same,
so the figures compare classifiers and features, nothing else.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import yaml

from bot.evaluation import sets
from bot.evaluation.crossval import cross_validate, train_nlu_model, training_data
from bot.evaluation.parsing import Parser
from bot.evaluation.scoring import OUT_OF_SCOPE, crisis_share, score, share
from bot.nlu_data import intent_examples
from bot.paths import ROOT

CONFIG = ROOT / "config.yml"
SHIPPED_CLASSIFIER = "bot.nlp.intent_classifier.LinearIntentClassifier"

SPARSE: List[dict] = [
    {"name": "RegexFeaturizer", "use_lookup_tables": True},
    {"name": "LexicalSyntacticFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4, "max_features": 8000},
]
WORDLLAMA: List[dict] = [{"name": "bot.nlp.static_embeddings.StaticEmbeddingFeaturizer"}]
MINILM: List[dict] = [{"name": "bot.nlp.sentence_encoder.SentenceEncoderFeaturizer", "scale": 2.0}]
DIET = {
    "name": "DIETClassifier",
    "epochs": 60,
    "entity_recognition": False,
    "constrain_similarities": True,
    "random_seed": 42,
}
LINEAR = {"name": SHIPPED_CLASSIFIER}

CANDIDATES: Dict[str, List[dict]] = {
    "DIET, 60 epochs, sparse n-grams (before)": SPARSE + [DIET],
    "DIET, 60 epochs, sparse n-grams + wordllama": SPARSE + WORDLLAMA + [DIET],
    "Rasa LogisticRegressionClassifier, sparse n-grams": SPARSE
    + [{"name": "LogisticRegressionClassifier", "max_iter": 1000}],
    "linear: TF-IDF char 1-4 + word 1-2, C=10": [LINEAR],
    "linear + wordllama sentence vectors, C=10 (before)": WORDLLAMA + [LINEAR],
    "linear + wordllama, C=30": WORDLLAMA + [dict(LINEAR, C=30.0)],
    "linear + MiniLM sentence encoder, C=10": MINILM + [LINEAR],
    "linear + wordllama + MiniLM, C=10 (shipped)": WORDLLAMA + MINILM + [LINEAR],
}


def pipeline_with(classifier_part: List[dict]) -> dict:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    names = [c["name"] for c in config["pipeline"]]
    at = names.index(SHIPPED_CLASSIFIER)
    head = [c for c in config["pipeline"][:at] if c["name"] in ("SpacyNLP", "SpacyTokenizer")]
    config["pipeline"] = head + classifier_part + config["pipeline"][at + 1 :]
    config["policies"] = []
    return config


@dataclass
class Result:
    name: str
    train_seconds: float
    paraphrase_f1: float
    paraphrase_worst: float
    cv_f1: Optional[float]
    out_of_scope: float
    figurative_crisis: float
    everyday_crisis: float


def measure(
    index: int, name: str, classifier_part: List[dict], folds: int, tmp: Path, progress: Callable[[str], None]
) -> Result:
    config_file = tmp / f"config-{index}.yml"
    config_file.write_text(yaml.safe_dump(pipeline_with(classifier_part), sort_keys=False))
    nlu_file = tmp / "nlu.yml"
    if not nlu_file.exists():
        from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter

        RasaYAMLWriter().dump(str(nlu_file), training_data())
    progress(f"{name}: training")
    start = time.perf_counter()
    model = train_nlu_model(config_file, nlu_file, tmp, f"candidate-{index}")
    seconds = time.perf_counter() - start
    parser = Parser(model)
    pairs = intent_examples(sets.PARAPHRASES)
    para = score([t for t, _ in pairs], [i for _, i in pairs], parser.intents(t for t, _ in pairs))
    oos = parser.intents(t for t, _ in intent_examples(sets.OUT_OF_SCOPE))
    fig = parser.intents(t for pairs in sets.figurative().values() for t, _ in pairs)
    everyday = parser.intents(sets.everyday())
    cv = None
    if folds > 1:
        texts, truth, predicted = cross_validate(config_file, folds, progress=progress)
        cv = score(texts, truth, predicted).macro_f1
    return Result(
        name,
        seconds,
        para.macro_f1,
        para.worst(1)[0][1],
        cv,
        share(oos, [OUT_OF_SCOPE]),
        crisis_share(fig),
        crisis_share(everyday),
    )


def compare(folds: int = 3, progress: Callable[[str], None] = print) -> List[Result]:
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        return [measure(i, name, part, folds, Path(tmp), progress) for i, (name, part) in enumerate(CANDIDATES.items())]


def markdown(results: List[Result], folds: int) -> str:
    with_cv = folds > 1
    lines = [
        "# Classifier candidates",
        "",
        "Same training data, same spaCy head and tail, scored on the main evaluation sets; "
        f"`make compare`{f' --folds {folds}' if with_cv else ''}. The crisis gate thresholds were "
        "cross-validated for the shipped classifier; other classifiers' confidences are spread "
        "differently, so their crisis false-alarm columns would move with their own thresholds.",
        "",
        "| candidate | NLU training s | paraphrase macro-F1 | lowest intent F1 |"
        + (" CV macro-F1 |" if with_cv else "")
        + " out of scope recognised | figurative/informational as crisis | everyday as crisis |",
        "|---" * (7 + with_cv) + "|",
    ]
    for r in results:
        cv = f" {r.cv_f1:.3f} |" if with_cv and r.cv_f1 is not None else ""
        lines.append(
            f"| {r.name} | {r.train_seconds:.0f} | {r.paraphrase_f1:.3f} | {r.paraphrase_worst:.2f} |{cv}"
            f" {100 * r.out_of_scope:.1f} % | {100 * r.figurative_crisis:.1f} % "
            f"| {100 * r.everyday_crisis:.2f} % |"
        )
    return "\n".join(lines) + "\n"
