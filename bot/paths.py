"""Where things live in the project tree, so no module has to guess relative paths."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
FACTS_FILE = DATA / "facts.yml"
ENTITIES_FILE = DATA / "entities.yml"
CRISIS_PATTERNS_FILE = DATA / "crisis_patterns.yml"
SPACY_MODEL_DIR = ROOT / "build" / "spacy_model"
MODELS_DIR = ROOT / "models"
VAR_DIR = ROOT / "var"
