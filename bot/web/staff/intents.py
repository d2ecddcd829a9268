"""The intents a staff member may relabel a message to.

A relabelled message is exported as NLU training data, so it may only carry a name that
the training data and the domain already use: the console reads them from the project
files rather than from a list of its own that could fall behind. The NLU files give the
full names Rasa trains on (a retrieval intent's `topic/withdrawal_symptoms`, not `topic`);
the domain adds intents that have no examples of their own.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable, Set, Tuple

import yaml

from bot.nlu_data import intent_examples
from bot.paths import DATA, ROOT

# Rasa's own label for "not understood": a message is relabelled to what it meant instead.
NOT_A_LABEL = {"nlu_fallback"}


def _domain_intents(domain_file: Path) -> Set[str]:
    domain = yaml.safe_load(domain_file.read_text(encoding="utf-8")) or {}
    return {next(iter(item)) if isinstance(item, dict) else str(item) for item in domain.get("intents") or []}


def _nlu_intents(nlu_files: Iterable[Path]) -> Set[str]:
    return {intent for path in nlu_files for _, intent in intent_examples(path)}


def relabel_intents(domain_file: Path, nlu_files: Iterable[Path]) -> Tuple[str, ...]:
    names = _nlu_intents(nlu_files) | _domain_intents(domain_file)
    # A retrieval intent is trained under its full names only.
    retrieval = {name.split("/", 1)[0] for name in names if "/" in name}
    return tuple(sorted(n for n in names if n and n not in retrieval and n not in NOT_A_LABEL))


@lru_cache(maxsize=1)
def project_relabel_intents() -> Tuple[str, ...]:
    """relabel_intents of this project, read once: the files change only with a deploy."""
    return relabel_intents(ROOT / "domain.yml", sorted((DATA / "nlu").glob("*.yml")))
