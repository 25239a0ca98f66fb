"""A small encoder–decoder translator, warm-started from the pretrained encoder or trained from scratch (6.1).

transformers' ``EncoderDecoderModel`` joins an XLM-R encoder to an XLM-R decoder (the same architecture with
causal self-attention and cross-attention to the encoder). *Warm-starting* {cite}`rothe2020leveraging`
copies the pretrained MLM into both halves — embeddings, layers and the output layer; only cross-attention
starts random. The baseline initialises everything at random. Both train on the same pairs: Django UI messages
(split by message group as in chapter 3) plus the names of the training emoji; both are scored on held-out UI
messages with sacrebleu's BLEU and chrF.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import sacrebleu
import torch
from transformers import (
    EncoderDecoderModel,
    PreTrainedTokenizerBase,
    XLMRobertaForCausalLM,
    XLMRobertaForMaskedLM,
    XLMRobertaModel,
)

from ..data import load_emoji_names, load_ui_messages, parallel_pairs, split_by_concept
from ..models.encoder import build_encoder
from ..runtime import batched, to_device
from ..text.masking import IGNORE_INDEX
from ..training import History, RunConfig, step_generator, step_rows, train


@dataclass(frozen=True)
class TranslatorConfig(RunConfig):
    """Teacher-forced training of the translator: 600 steps of 32 pairs, a tenth of them warm-up."""

    steps: int = 600  # twice the base: the decoder and its cross-attention start from random weights
    warmup_steps: int = 60  # a tenth of the steps, as the base's 30 of 300


@dataclass(frozen=True)
class TranslationData:
    """Training pairs (UI messages and emoji names) and held-out UI message pairs, as DataFrames."""

    source_lang: str
    target_lang: str
    train: pd.DataFrame
    test: pd.DataFrame


def translation_data(source_lang: str, target_lang: str, seed: int = 0) -> TranslationData:
    """Pairs from the pretraining split of chapter 3: its training concepts for training, its test for testing."""
    ui = split_by_concept(load_ui_messages([source_lang, target_lang]), seed=seed)
    emoji = split_by_concept(load_emoji_names([source_lang, target_lang]), seed=seed)

    def frame(dataset) -> pd.DataFrame:
        return parallel_pairs(dataset, source_lang, target_lang).to_pandas()

    train_pairs = pd.concat([frame(ui["train"]).assign(kind="UI message"),
                             frame(emoji["train"]).assign(kind="emoji name")], ignore_index=True)
    test = frame(ui["test"]).drop_duplicates("source").reset_index(drop=True)
    return TranslationData(source_lang, target_lang, train_pairs, test)


def seq2seq_from_mlm(mlm: XLMRobertaForMaskedLM, warm_start: bool, seed: int = 0) -> EncoderDecoderModel:
    """An encoder–decoder shaped like ``mlm``: its weights in both halves (``warm_start``) or random ones."""
    source = mlm if warm_start else build_encoder(mlm.config, seed=seed)
    encoder_config = source.config.__class__.from_dict(source.config.to_dict())
    decoder_config = source.config.__class__.from_dict({**source.config.to_dict(), "is_decoder": True,
                                                        "add_cross_attention": True})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = XLMRobertaModel(encoder_config, add_pooling_layer=False)
        decoder = XLMRobertaForCausalLM(decoder_config)
    encoder.load_state_dict(source.roberta.state_dict())
    missing, unexpected = decoder.load_state_dict(source.state_dict(), strict=False)
    if unexpected or any("crossattention" not in name for name in missing):
        raise RuntimeError(f"decoder weights did not line up: missing {missing}, unexpected {unexpected}")
    model = EncoderDecoderModel(encoder=encoder, decoder=decoder)
    model.config.decoder_start_token_id = source.config.bos_token_id
    model.config.eos_token_id = source.config.eos_token_id
    model.config.pad_token_id = source.config.pad_token_id
    model.generation_config.decoder_start_token_id = source.config.bos_token_id
    model.generation_config.eos_token_id = source.config.eos_token_id
    model.generation_config.pad_token_id = source.config.pad_token_id
    return model


def _batch(tokenizer: PreTrainedTokenizerBase, sources: Sequence[str], targets: Sequence[str] | None,
           max_length: int) -> dict[str, torch.Tensor]:
    inputs = tokenizer(list(sources), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    batch = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    if targets is not None:
        labels = tokenizer(list(targets), truncation=True, max_length=max_length, padding=True,
                           return_tensors="pt")["input_ids"]
        batch["labels"] = labels.masked_fill(labels == tokenizer.pad_token_id, IGNORE_INDEX)
    return batch


def train_translator(model: EncoderDecoderModel, tokenizer: PreTrainedTokenizerBase, pairs: pd.DataFrame,
                     config: TranslatorConfig = TranslatorConfig()) -> History:
    """Teacher-forced cross-entropy on (source, target) pairs; batches are a pure function of seed and step.
    Runs on the device and precision setup chose (bf16 autocast is about 1.5× faster on a CPU with bf16 units,
    ``benchmarks/``), unless ``config`` names others."""
    if pairs.empty:
        raise ValueError("pairs is empty")
    sources, targets = list(pairs["source"]), list(pairs["target"])

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        chosen = step_rows(len(sources), config.batch_size, step_generator(config.seed, step))
        return _batch(tokenizer, [sources[i] for i in chosen], [targets[i] for i in chosen], config.max_length)

    with warnings.catch_warnings():  # transformers warns on every call that labels now build decoder inputs
        warnings.filterwarnings("ignore", message="Version v4.12.0 introduces", category=FutureWarning)
        return train(model, lambda model, batch: {"loss": model(**batch).loss}, batch_fn,
                     config.training(progress=False))


def translate(model: EncoderDecoderModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
              num_beams: int = 1, max_length: int = 32, no_repeat_ngram_size: int = 0,
              batch_size: int = 64, device: torch.device | str | None = None,
              precision: str | None = None) -> list[str]:
    """Greedy (``num_beams=1``) or beam-search translations, at most ``max_length`` tokens each way (the
    position table of the tiny model holds 32 tokens plus two); ``no_repeat_ngram_size`` > 0 forbids repeating an
    n-gram, a common guard against the loops of an undertrained decoder."""

    def step(rows: slice, device: torch.device) -> list[str]:
        batch = to_device(_batch(tokenizer, texts[rows], None, max_length), device)
        generated = model.generate(**batch, num_beams=num_beams, max_new_tokens=max_length - 1, do_sample=False,
                                   no_repeat_ngram_size=no_repeat_ngram_size)
        return tokenizer.batch_decode(generated.cpu(), skip_special_tokens=True)

    return [text.strip() for part in batched(model, len(texts), batch_size, step, device, precision) for text in part]


def translation_scores(hypotheses: Sequence[str], references: Sequence[str], target_lang: str) -> dict[str, float]:
    """Corpus BLEU (Chinese tokenised by character, as sacrebleu's ``zh``) and chrF."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"need as many hypotheses as references, and at least one; got {len(hypotheses)} and "
                         f"{len(references)}")
    tokenize = "zh" if target_lang.startswith("zh") else "13a"
    bleu = sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize)
    chrf = sacrebleu.corpus_chrf(list(hypotheses), [list(references)])
    return {"BLEU": bleu.score, "chrF": chrf.score}
