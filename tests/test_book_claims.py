"""Claims made on the book's prose pages (chapters 7 and 9) that can be checked in code."""

import transformers


def test_transformers_5_has_no_tensorflow_or_flax_models():
    """Chapter 7's erratum: the article recommends TensorFlow with Transformers; version 5 is PyTorch only."""
    assert int(transformers.__version__.split(".")[0]) >= 5
    assert not hasattr(transformers, "TFAutoModel") and not hasattr(transformers, "FlaxAutoModel")

