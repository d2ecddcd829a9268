"""k-fold cross-validation of an NLU config on our own training data.

Each fold trains the real Rasa NLU pipeline (rasa.model_training.train_nlu) on the other
folds and parses the held-back one through it, so the figure is the pipeline's, safety net
and fallback included. Stratified by intent, with a fixed seed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from bot.evaluation.parsing import Parser
from bot.evaluation.sets import NLU_DIR
from bot.paths import ENTITIES_FILE, ROOT


def training_data():
    from rasa.shared.nlu.training_data.loading import load_data

    return load_data(str(NLU_DIR)).merge(load_data(str(ENTITIES_FILE)))


def train_nlu_model(config: Path, nlu_file: Path, out_dir: Path, name: str) -> Path:
    from rasa.model_training import train_nlu

    path = train_nlu(
        config=str(config),
        nlu_data=str(nlu_file),
        output=str(out_dir),
        fixed_model_name=name,
        domain=str(ROOT / "domain.yml"),
    )
    if path is None:
        raise RuntimeError(f"training {config} on {nlu_file} produced no model")
    return Path(path)


def cross_validate(
    config: Path, folds: int = 5, seed: int = 42, progress: Optional[Callable[[str], None]] = None
) -> Tuple[List[str], List[str], List[str]]:
    """(texts, expected intents, predicted intents) over every training example, each
    predicted by a model that never saw it."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn.model_selection import StratifiedKFold

    data = training_data()
    examples = [e for e in data.intent_examples if e.get("text")]
    intents = [e.get("intent") for e in examples]
    texts, truth, predicted = [], [], []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with tempfile.TemporaryDirectory(prefix="cv-") as tmp:
        for fold, (train_idx, test_idx) in enumerate(splitter.split(examples, intents), start=1):
            if progress:
                progress(f"fold {fold}/{folds}: training on {len(train_idx)}, testing {len(test_idx)}")
            subset = TrainingData(
                training_examples=[examples[i] for i in train_idx],
                entity_synonyms=data.entity_synonyms,
                lookup_tables=data.lookup_tables,
                regex_features=data.regex_features,
            )
            nlu_file = Path(tmp) / f"fold{fold}.yml"
            RasaYAMLWriter().dump(str(nlu_file), subset)
            model = train_nlu_model(config, nlu_file, Path(tmp), f"fold{fold}")
            held = [examples[i] for i in test_idx]
            texts += [e.get("text") for e in held]
            truth += [e.get("intent") for e in held]
            predicted += Parser(model).intents(e.get("text") for e in held)
    return texts, truth, predicted
