"""Device and precision flow: every helper that trains or evaluates runs where its config (or ``device=``) says.

setup()'s choice is pointed at PyTorch's ``meta`` device, where nothing can be computed: a helper that forgot to
hand its explicit ``device="cpu"`` to the loop, to its evaluation or to its batches would land there and fail.
Each one must instead train, evaluate and return its model on the CPU.
"""

import pandas as pd
import pytest
import torch
from torch import nn

from xlm_course import runtime
from xlm_course.applications.ner import NERConfig, finetune_ner, make_sentences, predict_labels
from xlm_course.applications.qa import DualEncoderConfig, train_dual_encoder
from xlm_course.applications.translation import (
    TranslatorConfig,
    seq2seq_from_mlm,
    train_translator,
    translate,
)
from xlm_course.deployment.distillation import DistillationConfig, distill
from xlm_course.deployment.madx import LanguageAdapterConfig, train_language_adapters
from xlm_course.models.encoder import build_encoder
from xlm_course.models.fusion import ImageEncoder, MultimodalClassifier
from xlm_course.models.source import embed
from xlm_course.multimodal import (
    AlignerConfig,
    ImageTextAligner,
    MultimodalConfig,
    accuracy_by_language,
    retrieval_by_language,
    train_aligner,
    train_classifier,
)
from xlm_course.objectives import masked_lm_accuracy
from xlm_course.transfer import FineTuneConfig, emoji_category_task, evaluate, finetune

CPU = {"device": "cpu", "precision": "fp32"}
QUICK = {"steps": 2, "batch_size": 4, "warmup_steps": 0, **CPU}


@pytest.fixture(autouse=True)
def setup_chose_an_unusable_device(monkeypatch):
    monkeypatch.setitem(runtime._chosen, "device", torch.device("meta"))
    monkeypatch.setitem(runtime._chosen, "precision", "fp32")


def test_the_unusable_default_is_really_used():
    assert runtime.resolve() == (torch.device("meta"), "fp32")
    with pytest.raises(RuntimeError, match="meta"), runtime.evaluating(nn.Linear(2, 2)) as device:
        float(torch.ones(1, device=device))  # what any helper that ignored its device would hit


def on_cpu(model: nn.Module) -> bool:
    return all(parameter.device.type == "cpu" for parameter in model.parameters())



def test_finetune_and_its_evaluations(tiny_source):
    task = emoji_category_task(("en", "fr", "de", "ja"))
    tuned = finetune(tiny_source, task, task.rows("train", ["en"]).select(range(16)),
                     FineTuneConfig(**QUICK, eval_every=1))
    assert on_cpu(tuned.model) and len(tuned.history.evaluations) == 2
    assert evaluate(tuned.model, tiny_source, task, "dev", ["fr"], device="cpu")["n"].sum() > 0


def test_ner(tiny_source):
    sentences = make_sentences("en", "train", 8)
    model = finetune_ner(tiny_source, sentences, NERConfig(**QUICK))
    assert on_cpu(model)
    assert len(predict_labels(model, tiny_source, sentences, device="cpu")) == 8


def test_translation(tiny_source):
    model = seq2seq_from_mlm(build_encoder(tiny_source.config, seed=0), warm_start=True)
    pairs = pd.DataFrame({"source": ["dog", "cat"], "target": ["chien", "chat"]})
    train_translator(model, tiny_source.tokenizer, pairs, TranslatorConfig(**QUICK))
    assert on_cpu(model)
    assert len(translate(model, tiny_source.tokenizer, ["dog"], max_length=4, device="cpu")) == 1


def test_dual_encoder_and_embeddings(tiny_source):
    texts = [f"text {i}" for i in range(8)]
    encoder = train_dual_encoder(tiny_source, texts, ["en"] * 8, texts, ["fr"] * 8, [str(i) for i in range(8)],
                                 DualEncoderConfig(**QUICK))
    assert on_cpu(encoder)
    vectors = embed(encoder, tiny_source, texts, ["en"] * 8, device="cpu")
    assert vectors.device.type == "cpu" and vectors.dtype == torch.float32


def test_language_adapters(tiny_source):
    mlm = build_encoder(tiny_source.config, seed=0)
    model, _ = train_language_adapters(mlm, tiny_source.tokenizer, tiny_source.language_ids,
                                       {"en": ["red heart", "dog face"]}, LanguageAdapterConfig(**QUICK, bottleneck=2))
    assert on_cpu(model)
    accuracy = masked_lm_accuracy(model, tiny_source.tokenizer, tiny_source.language_ids, ["red heart"] * 4, "en",
                                  device="cpu")
    assert 0.0 <= accuracy <= 1.0 or accuracy != accuracy


def test_distillation(tiny_source):
    teacher, student = tiny_source.classifier(["a", "b"], seed=0), tiny_source.classifier(["a", "b"], seed=1)
    distill(teacher, student, tiny_source, ["dog", "cat", "chien", "chat"], ["en", "en", "fr", "fr"], [0, 1, -1, -1],
            DistillationConfig(**QUICK))
    assert on_cpu(student) and on_cpu(teacher)


def test_multimodal_classifier_and_aligner():
    text, images, labels = torch.randn(8, 4), torch.rand(8, 3, 8, 8), torch.randint(2, (8,))
    model = MultimodalClassifier(ImageEncoder(dim=4, channels=(2, 2, 2)), "gated", 4, 4, 2, hidden=4)
    train_classifier(model, text, images, labels, MultimodalConfig(**QUICK))
    assert on_cpu(model)
    assert accuracy_by_language(model, {"xx": text}, images, labels, device="cpu").between(0, 1).all()
    aligner = ImageTextAligner(ImageEncoder(dim=4, channels=(2, 2, 2)), 4, 4, dim=4)
    train_aligner(aligner, text, images, AlignerConfig(**QUICK))
    assert on_cpu(aligner)
    assert len(retrieval_by_language(aligner, {"xx": text}, images, device="cpu")) == 1


def test_the_loop_receives_the_configs_device(monkeypatch, tiny_source):
    import xlm_course.transfer.finetuning as finetuning

    seen = []
    real = finetuning.train

    def spy(model, loss_fn, batch_fn, config, **kwargs):
        seen.append((config.device, config.precision))
        return real(model, loss_fn, batch_fn, config, **kwargs)

    monkeypatch.setattr(finetuning, "train", spy)
    task = emoji_category_task(("en", "fr", "de", "ja"))
    finetune(tiny_source, task, task.rows("train", ["en"]).select(range(8)), FineTuneConfig(**QUICK, eval_every=None))
    assert seen == [("cpu", "fp32")]
