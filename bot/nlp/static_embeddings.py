"""StaticEmbeddingFeaturizer: pretrained static token vectors as dense features.

Nothing can be downloaded from a model hub at run time, so the vectors come from a
package that ships them: the `wordllama` wheel (MIT licence) carries 256-dimension token
embeddings (`weights/l2_supercat_256.safetensors`) and their tokenizer
(`tokenizers/l2_supercat_tokenizer_config.json`). We read those two files with
`safetensors` and `tokenizers` and never import wordllama itself, whose pins clash with
Rasa's; it is installed without its dependencies (requirements-nodeps.txt).

Each Rasa token gets the mean of its sub-word vectors (sequence features). The sentence
feature is the mean over the sub-words of the whole message, L2-normalised: weighting by
sub-word rather than by word cross-validated better (0.864 against 0.853 macro-F1), since
rare and misspelt words split into several pieces and so count for more. Whether this helps is measured, not
assumed: `make compare` runs the candidates with and without it.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Text, Tuple, Type

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.pretrained import PretrainedFeaturizer


def wordllama_files(name: str = "l2_supercat", dim: int = 256) -> Tuple[Path, Path]:
    """(weights, tokenizer) shipped inside the installed wordllama package."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the wordllama package is not installed (requirements-nodeps.txt)")
    package = Path(list(spec.submodule_search_locations)[0])
    return (package / "weights" / f"{name}_{dim}.safetensors", package / "tokenizers" / f"{name}_tokenizer_config.json")


@lru_cache(maxsize=2)
def load_vectors(name: str, dim: int):
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer as SubwordTokenizer

    weights, tokenizer = wordllama_files(name, dim)
    matrix = next(iter(load_file(str(weights)).values())).astype(np.float32)
    return matrix, SubwordTokenizer.from_file(str(tokenizer))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class StaticEmbeddingFeaturizer(PretrainedFeaturizer):
    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "vectors": "l2_supercat", "dimensions": 256}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(config, name)
        self._matrix, self._subwords = load_vectors(self._config["vectors"], self._config["dimensions"])

    def _mean_vector(self, text: str) -> np.ndarray:
        ids = self._subwords.encode(text.lower(), add_special_tokens=False).ids
        if not ids:
            return np.zeros(self._matrix.shape[1], dtype=np.float32)
        return self._matrix[ids].mean(axis=0)

    def _featurize(self, message: Message) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        if not tokens:
            return
        sequence = np.vstack([self._mean_vector(t.text) for t in tokens])
        sentence = self._mean_vector(message.get(TEXT) or "").reshape(1, -1)
        sentence /= np.linalg.norm(sentence) + 1e-9
        self.add_features_to_message(sequence, sentence, TEXT, message)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._featurize(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
