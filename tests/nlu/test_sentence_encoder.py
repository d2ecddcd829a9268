"""The sentence encoder reads meaning, not letters, and gives each message the same vector
whatever else it is read with. The sentences here are mine, not the training data's.

It is no oracle: it does not know street slang ("the rattle"), and a shared word and shape
can outweigh meaning ("how long does withdrawal last" sits nearer a bank withdrawal than
"when will I stop feeling ill from coming off"). That is why it is one feature of the
classifier beside the n-grams and the trained examples, not the classifier."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from bot.nlp import sentence_encoder
from bot.nlp.sentence_encoder import DIMENSION, EncoderMissing, SentenceEncoder, model_zip, shared_encoder


@pytest.fixture(scope="module")
def encoder():
    return shared_encoder()


def test_a_paraphrase_sharing_no_words_is_nearer_than_a_stranger(encoder):
    # (question, the same question in other words, an unrelated question with a shared word)
    triples = [
        ("what does narcan do", "how does the overdose antidote spray work", "what does a narwhal eat"),
        ("my son is using again after rehab", "he relapsed once treatment ended", "my son is using my laptop again"),
        ("can i get methadone while pregnant", "is a methadone script ok with a baby on the way", "can i get a cat while renting"),
    ]
    for question, paraphrase, stranger in triples:
        q, p, s = encoder.encode([question, paraphrase, stranger])
        assert float(q @ p) > float(q @ s), (question, float(q @ p), float(q @ s))


def test_vectors_are_unit_length_and_do_not_depend_on_the_batch(encoder):
    texts = ["hi", "im clucking so bad and its only day two, what can i take to get through tonight", ""]
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert together.shape == (3, DIMENSION)
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(together[:2], axis=1), 1.0, atol=1e-5)


def test_a_very_long_message_is_read_in_bounded_time_and_still_means_something(encoder):
    long = "please help my brother has been on gear for years and " * 200 + "what detox options are there"
    vector = encoder.encode([long])[0]
    near = encoder.encode(["my brother uses heroin, how can he detox"])[0]
    far = encoder.encode(["what time does the football start"])[0]
    assert np.isfinite(vector).all() and float(vector @ near) > float(vector @ far)


def test_without_the_wheel_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EncoderMissing, match="requirements-nodeps.txt"):
        sentence_encoder.model_zip()


def test_the_onnx_graph_computes_what_the_numpy_layers_compute():
    """onnxruntime runs the encoder in production; the numpy forward pass says what the
    model is. Same vectors, and the times of both are printed (-s) as the reason for the
    graph."""
    encoder = SentenceEncoder(model_zip(), keep_reference=True)
    texts = ["hi", "", "my partner took his methadone twice and now hes snoring weird", "dopesick " * 300]
    assert np.allclose(encoder.encode(texts), encoder.encode_with_numpy(texts), atol=1e-5)
    message = ["how long does the rattle last off subs compared to gear"]
    for name, encode in (("onnxruntime", encoder.encode), ("numpy", encoder.encode_with_numpy)):
        encode(message)
        start = time.perf_counter()
        for _ in range(50):
            encode(message)
        print(f"\nsentence encoder, one message, {name}: {(time.perf_counter() - start) / 50 * 1000:.1f} ms")
