import os

from xlm_course.runtime import (
    OFFLINE_VARIABLES,  # torch only: no Hugging Face library has read the variables yet
)

# The course must work offline: every test runs as CI does, with the Hugging Face libraries offline.
for name in OFFLINE_VARIABLES:
    os.environ.setdefault(name, "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Unit tests check logic, not rounding: fp32 on every machine, whatever bf16 units its CPU has (the precision
# choice itself is tested in test_runtime.py, and bf16 training in test_training.py).
os.environ.setdefault("XLM_COURSE_PRECISION", "fp32")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_source():
    """A tiny random XLM-R encoder with a tokenizer trained on emoji names (en, fr, de, ja): fast enough for tests
    of everything that fine-tunes."""
    from xlm_course.models.encoder import build_encoder, encoder_config
    from xlm_course.models.source import EncoderSource
    from xlm_course.runtime import PROFILES
    from xlm_course.text import train_tokenizer
    from xlm_course.transfer import emoji_category_task

    languages = ("en", "fr", "de", "ja")
    texts = list(emoji_category_task(languages).frame("train")["text"])
    tokenizer = train_tokenizer(texts, vocab_size=800)
    config = encoder_config(len(tokenizer), list(languages), PROFILES["ci"], hidden_size=16, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=32)
    return EncoderSource.from_model("tiny", build_encoder(config, seed=0), tokenizer,
                                    {lang: i for i, lang in enumerate(languages)})
