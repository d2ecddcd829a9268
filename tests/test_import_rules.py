"""What may import what (docs/architecture.md, "Import rules"), read from the source with `ast`.

The rules keep each process loading only what it runs: the action server never loads Rasa
itself, the web app never loads Rasa (it talks to Rasa over HTTP; spaCy only for the crisis
matcher, so the numbers do not wait on Rasa), the NLU
components inside the Rasa server know nothing of the web app or the database, and the
shared knowledge modules depend on nothing above them. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from functools import cache, lru_cache
from pathlib import Path
from typing import Dict, Iterable, Set, Tuple

import pytest

from bot.paths import ROOT

PACKAGES = ("bot", "actions")

# Shared by every process: data files and the rules read from them. bot.nlp.vocabulary
# belongs here too (the entity vocabulary of data/entities.yml; pure YAML reading), which
# the actions reach through bot.dialogue.
KNOWLEDGE = (
    "bot.paths",
    "bot.settings",
    "bot.contacts",
    "bot.facts",
    "bot.dialogue",
    "bot.redact",
    "bot.nlu_data",
    "bot.nlp.vocabulary",
)

# importer prefix -> the only first-party modules (prefixes) it may import
ALLOWED: Dict[str, Tuple[str, ...]] = {
    "actions": ("actions", "bot.contacts", "bot.dialogue", "bot.facts", "bot.redact"),
    "bot.nlp": ("bot.nlp", "bot.paths", "bot.settings", "bot.nlu_data"),
    **dict.fromkeys(KNOWLEDGE, KNOWLEDGE),
}

# importer prefix -> first-party modules (prefixes) it must not import
FORBIDDEN: Dict[str, Tuple[str, ...]] = {
    "bot.transcripts": ("bot.web", "bot.nlp", "bot.cli", "bot.stack", "bot.evaluation", "actions"),
    # the web app reaches Rasa over HTTP only; the tracker store runs inside the Rasa server
    "bot.web": (
        "bot.nlp.components",
        "bot.nlp.intent_classifier",
        "bot.nlp.static_embeddings",
        "bot.nlp.sentence_encoder",
        "bot.nlp.build",
        "bot.cli",
        "bot.stack",
        "actions",
        "bot.transcripts.tracker_store",
        "bot.lock_store",
        "bot.topic_importer",
    ),
    "bot.evaluation": ("bot.web", "bot.transcripts", "bot.cli", "actions"),
    "bot.lock_store": PACKAGES,
    # installed in the Rasa server process only; it knows nothing of ours
    "bot.schema_cache": PACKAGES,
}

# Only these may import these (entry points and the launcher sit on top of everything).
IMPORTED_ONLY_BY: Dict[str, Tuple[str, ...]] = {
    "actions": ("actions",),
    "bot.cli": ("bot.cli",),
    "bot.stack": ("bot.cli",),
}

# Third-party packages a process must never load, through any chain of our imports.
NEVER_LOADS: Dict[str, Tuple[str, ...]] = {
    "actions": ("rasa", "fastapi", "starlette", "sqlalchemy", "alembic", "spacy", "sklearn"),
    # spaCy for the crisis matcher only (bot.web.crisis_guard), never the models around it
    "bot.web.app": ("rasa", "rasa_sdk", "sklearn", "tensorflow"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=1)
def modules() -> Dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _first_party(name: str) -> bool:
    return any(_within(name, p) for p in PACKAGES)


def imports_of(module: str) -> Set[str]:
    """Every module `module` imports: first-party ones resolved to a module of ours (so
    `from bot import contacts` is bot.contacts), third-party ones as written."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base)
    return {_resolve(name) for name in found}


def _resolve(name: str) -> str:
    """A first-party name to the module that defines it (bot.redact.redact -> bot.redact)."""
    if not _first_party(name):
        return name
    while name not in modules() and "." in name:
        name = name.rpartition(".")[0]
    return name


@cache
def graph() -> Dict[str, Set[str]]:
    return {m: imports_of(m) for m in modules()}


def reached_from(start: str) -> Tuple[Set[str], Set[str]]:
    """(first-party modules, top-level third-party packages) loaded by importing `start`."""
    ours, theirs, todo = set(), set(), [start]
    while todo:
        module = todo.pop()
        if module in ours:
            continue
        ours.add(module)
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parents = [module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)]
        for name in graph().get(module, set()) | {p for p in parents if p in modules()}:
            if _first_party(name):
                todo.append(name)
            else:
                theirs.add(name.split(".")[0])
    return ours, theirs


def _first_party_imports(prefix: str) -> Iterable[Tuple[str, str]]:
    for module, names in sorted(graph().items()):
        if _within(module, prefix):
            for name in sorted(names):
                if _first_party(name):
                    yield module, name


def test_the_parser_sees_imports_of_every_kind():
    assert "bot.facts" in imports_of("actions.topics")  # from bot import facts
    assert "bot.redact" in imports_of("bot.transcripts.tracker_store")  # from bot import redact as R
    assert "bot.paths" in imports_of("bot.redact")  # inside a function
    assert "rasa_sdk" in imports_of("actions.topics")


def test_every_module_the_rules_name_exists():
    """A module moved or renamed must move in these rules (and in docs/architecture.md)."""
    named = set(KNOWLEDGE) | set(ALLOWED) | set(FORBIDDEN) | set(IMPORTED_ONLY_BY) | set(NEVER_LOADS)
    for table in (ALLOWED, FORBIDDEN, IMPORTED_ONLY_BY):
        for targets in table.values():
            named.update(targets)
    missing = [n for n in sorted(named) if not any(_within(m, n) for m in modules())]
    assert not missing, missing


@pytest.mark.parametrize("prefix", sorted(ALLOWED))
def test_modules_import_only_what_they_are_allowed(prefix):
    bad = [
        f"{m} imports {n}"
        for m, n in _first_party_imports(prefix)
        if not any(_within(n, allowed) for allowed in ALLOWED[prefix])
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("prefix", sorted(FORBIDDEN))
def test_modules_do_not_import_what_they_must_not(prefix):
    bad = [
        f"{m} imports {n}"
        for m, n in _first_party_imports(prefix)
        if any(_within(n, f) for f in FORBIDDEN[prefix]) and not _within(n, prefix)
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("target", sorted(IMPORTED_ONLY_BY))
def test_entry_points_are_imported_only_from_above(target):
    bad = [
        f"{m} imports {n}"
        for m, names in sorted(graph().items())
        for n in sorted(names)
        if _within(n, target) and not any(_within(m, p) for p in IMPORTED_ONLY_BY[target])
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("start", sorted(NEVER_LOADS))
def test_a_process_never_loads_what_it_does_not_run(start):
    entry = [m for m in modules() if _within(m, start)]
    loaded: Set[str] = set()
    for module in entry:
        loaded |= reached_from(module)[1]
    assert not loaded & set(NEVER_LOADS[start]), sorted(loaded & set(NEVER_LOADS[start]))
