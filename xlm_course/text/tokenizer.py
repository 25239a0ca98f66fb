"""A shared multilingual subword tokenizer, trained like XLM-R's SentencePiece unigram model (chapter 1).

One vocabulary for every language is what lets a cross-lingual model share parameters: identical pieces
("Django", digits, names, cognates such as "administra") become anchors between languages. We train a
unigram language model (Kudo 2018) over Metaspace-split text with the ``tokenizers`` library, then append the
256 byte pieces ``<0x00>`` ... ``<0xFF>``: a character the vocabulary lacks is spelled in its UTF-8 bytes
instead of becoming ``<unk>`` (byte fallback, as in SentencePiece), so no language ever falls to unknown.

Like SentencePiece's ``character_coverage``, only the most frequent characters (99.95% of character
occurrences by default, and never more than half the vocabulary) become pieces of their own; the rare rest
are left to byte fallback. Without this cap, a few thousand rare Chinese characters would not even fit in a
small vocabulary.

The result is a ``transformers.PreTrainedTokenizerFast`` with XLM-R's special tokens and ids
(``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, ``<mask>`` last) and its templates
``<s> A </s>`` and ``<s> A </s></s> B </s>``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from ..validation import check_positive_int

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
MASK_TOKEN = "<mask>"
BYTE_PIECES = tuple(f"<0x{value:02X}>" for value in range(256))
MIN_VOCAB_SIZE = len(SPECIAL_TOKENS) + len(BYTE_PIECES) + 1 + 100


def kept_characters(texts: list[str], coverage: float, limit: int) -> set[str]:
    """The most frequent characters covering ``coverage`` of all occurrences, at most ``limit`` of them."""
    counts = Counter(char for text in texts for char in text if not char.isspace())
    total, covered, kept = sum(counts.values()), 0, set()
    for char, count in counts.most_common(limit):
        if covered >= coverage * total:
            break
        kept.add(char)
        covered += count
    return kept


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8000, character_coverage: float = 0.9995,
                    max_piece_length: int = 16, model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """Train a unigram tokenizer with byte fallback on ``texts``; ``vocab_size`` counts every token.

    ``vocab_size`` includes the 4 special tokens, the 256 byte pieces and ``<mask>``; it must be at least
    :data:`MIN_VOCAB_SIZE`. ``character_coverage`` in (0, 1] is the share of character occurrences that the
    vocabulary must hold as single-character pieces (the rest go to byte fallback).
    """
    texts = _checked_texts(texts, vocab_size, character_coverage)
    learned_size = vocab_size - len(BYTE_PIECES) - 1  # the byte pieces and <mask> are appended afterwards
    tokenizer = Tokenizer(models.Unigram())
    # NFKC folds compatibility forms (full-width Latin, ligatures); runs of spaces become one.
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=learned_size, special_tokens=list(SPECIAL_TOKENS),
                                      unk_token="<unk>", max_piece_length=max_piece_length, show_progress=False)
    kept = kept_characters(texts, character_coverage, limit=learned_size // 2)

    def without_rare_characters() -> Iterator[str]:
        for text in texts:
            yield "".join(char for char in text if char in kept or char.isspace())

    tokenizer.train_from_iterator(without_rare_characters(), trainer=trainer, length=len(texts))
    trained = [(piece, float(score)) for piece, score in json.loads(tokenizer.to_str())["model"]["vocab"]]
    tokenizer.model = models.Unigram(_reproducible_vocabulary(trained), unk_id=SPECIAL_TOKENS.index("<unk>"),
                                     byte_fallback=True)
    return _as_transformers(tokenizer, model_max_length)


def _checked_texts(texts: Iterable[str], vocab_size: int, character_coverage: float) -> list[str]:
    """``texts`` as a list, once every argument of :func:`train_tokenizer` is checked."""
    # at least 4 special tokens + 256 byte pieces + <mask> + 100 learned pieces
    check_positive_int("vocab_size", vocab_size, minimum=MIN_VOCAB_SIZE)
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not one string")
    if not 0.0 < character_coverage <= 1.0:
        raise ValueError(f"character_coverage must lie in (0, 1], got {character_coverage!r}")
    texts = list(texts)
    wrong = next((text for text in texts if not isinstance(text, str)), None)
    if wrong is not None:
        raise TypeError(f"texts must be strings, found {type(wrong).__name__}: {wrong!r}")
    if not any(text.strip() for text in texts):
        raise ValueError("texts is empty: the tokenizer needs text to learn its vocabulary from")
    return texts


def _reproducible_vocabulary(trained: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The trained pieces in an order that is the same in every run, then the byte pieces.

    The trainer's scores differ between runs in their last digits (parallel floating-point sums), which reorders
    near-ties and so changes token ids. Rounding the scores and sorting by (score, piece) gives the same ids in
    every run. The trainer also appends the required single characters it never scored, with made-up scores in
    hash-map order; they get one common score, so that only their code points order them.
    """
    specials = [(piece, score) for piece, score in trained if piece in SPECIAL_TOKENS]
    ordinary = [(piece, score) for piece, score in trained if piece not in SPECIAL_TOKENS]
    lowest_scored = min((score for piece, score in ordinary if len(piece) > 1), default=0.0)
    unscored = [score for piece, score in ordinary if len(piece) == 1 and score < lowest_scored]
    floor = round(min(unscored), 6) if unscored else None
    pieces = sorted(((piece, floor if len(piece) == 1 and score < lowest_scored else round(score, 6))
                     for piece, score in ordinary), key=lambda item: (-item[1], item[0]))
    vocab = specials + pieces
    learned = {piece for piece, _ in vocab}
    floor = min(score for _, score in vocab) - 10.0  # byte pieces are used only when nothing else fits
    return vocab + [(piece, floor) for piece in BYTE_PIECES if piece not in learned]


def _as_transformers(tokenizer: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    """The trained tokenizer with its decoder, ``<mask>``, XLM-R's templates (``<s> A </s></s> B </s>``), as a
    transformers tokenizer."""
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                           decoders.Strip(content=" ", left=1, right=0)])
    tokenizer.add_special_tokens([MASK_TOKEN])
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token=MASK_TOKEN, model_max_length=model_max_length)
