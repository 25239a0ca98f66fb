"""The applications of chapter 6: QA ranking sets, recommendation, NER data and tagging, translation."""

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.applications.ner import (
    ENTITY_TYPES,
    LABELS,
    NER_LANGUAGES,
    NERConfig,
    encode_sentences,
    entity_f1,
    entity_names,
    entity_split,
    finetune_ner,
    label_shares,
    make_sentences,
    predict_labels,
)
from xlm_course.applications.qa import load_qa, qa_table, ranking_set, translated_questions
from xlm_course.applications.recommendation import recommendation_table, simulate_users
from xlm_course.applications.translation import (
    TranslatorConfig,
    seq2seq_from_mlm,
    train_translator,
    translate,
    translation_data,
    translation_scores,
)
from xlm_course.data import concept_split
from xlm_course.models.encoder import build_encoder
from xlm_course.models.source import replace_config
from xlm_course.transfer import emoji_category_task

# --- QA ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qa():
    return load_qa(["en", "ja", "fr"])


def test_qa_split_follows_the_pretraining_split(qa):
    assert not set(qa.train["concept"]) & set(qa.held_out["concept"])
    assert all(concept_split(c) == "train" for c in qa.train["concept"].head(50))
    assert all(concept_split(c) != "train" for c in qa.held_out["concept"].head(50))


def test_ranking_set_points_each_question_to_its_own_turn(qa):
    task = ranking_set(qa.held_out, "ja", "en")
    english = qa.held_out[qa.held_out["lang"] == "en"]
    japanese = qa.held_out[qa.held_out["lang"] == "ja"]
    assert task.queries and len(task.queries) == len(task.relevant) and len(set(task.pool)) == len(task.pool)
    for question, relevant in list(zip(task.queries, task.relevant, strict=True))[:20]:
        keys = set(map(tuple, japanese.loc[japanese["question"] == question, ["concept", "dialogue", "turn"]].values))
        answers = {row.answer for row in english.itertuples() if (row.concept, row.dialogue, row.turn) in keys}
        assert {task.pool[i] for i in relevant} == answers
    with pytest.raises(ValueError, match="no held-out dialogues"):
        ranking_set(qa.held_out, "ja", "de")


def test_translated_questions_are_aligned_and_unique(qa):
    english, japanese = translated_questions(qa.held_out, "ja")
    assert len(english) == len(japanese) > 10
    assert len(set(english)) == len(english) and len(set(japanese)) == len(japanese)


def test_qa_table_reports_sizes_and_chance(qa, tiny_source):
    table = qa_table(tiny_source.encoder(), tiny_source, qa.held_out, [("en", "en"), ("ja", "en")])
    assert list(table["question"]) == ["en", "ja"]
    assert ((table["accuracy@1"] >= 0) & (table["MRR"] <= 1)).all()
    assert (table["chance@1"] < 0.05).all() and (table["pool"] > 50).all()


# --- recommendation -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def category_task():
    return emoji_category_task(("en", "fr", "ja"))


def test_simulated_users_are_fixed_and_balanced(category_task):
    users = simulate_users(category_task, per_label=3, history_size=4, seed=1)
    assert users == simulate_users(category_task, per_label=3, history_size=4, seed=1)
    assert len(users) == 3 * len(category_task.labels)
    assert all(len(user.history) == 4 for user in users)
    train = category_task.frame("train", ["en"])
    label_of = dict(zip(train["text"], train["label"], strict=True))
    assert all(label_of[name] == user.label for user in users for name in user.history)
    with pytest.raises(ValueError, match="fewer than history_size"):
        simulate_users(category_task, history_size=10_000)


def test_an_oracle_representation_ranks_every_relevant_item_first(category_task):
    frames = [category_task.frame(split) for split in ("train", "test")]
    label_of = {text: label for frame in frames for text, label in zip(frame["text"], frame["label"], strict=True)}

    def oracle(texts, lang):  # one-hot of the true group: a perfect content representation
        return torch.nn.functional.one_hot(torch.tensor([label_of[t] for t in texts]), len(category_task.labels)).float()

    users = simulate_users(category_task, per_label=2)
    table = recommendation_table({"oracle": oracle}, category_task, users, ["fr", "ja"], ks=(5,))
    assert (table["MRR"] == 1.0).all() and (table["precision@5"] == 1.0).all()


# --- NER ----------------------------------------------------------------------------------------------------------


@settings(deadline=None, max_examples=15)
@given(st.sampled_from(NER_LANGUAGES), st.integers(0, 50))
def test_sentences_have_valid_bio_labels_and_rebuild_their_text(lang, seed):
    for sentence in make_sentences(lang, "test", 5, seed=seed):
        assert len(sentence.words) == len(sentence.labels) == len(sentence.spaces)
        for previous, label in zip(("O", *sentence.labels), sentence.labels, strict=False):
            if label.startswith("I-"):
                assert previous[2:] == label[2:] and previous != "O"
        assert sentence.text.replace(" ", "") == "".join(sentence.words).replace(" ", "")
        assert any(label.startswith("B-") for label in sentence.labels)


def test_entities_are_split_by_code_in_every_language():
    for kind in ENTITY_TYPES:
        codes = set(entity_names("en")[kind])
        test_codes = {code for code in codes if entity_split(kind, code) == "test"}
        assert 0 < len(test_codes) < len(codes) / 4
    def countries(split: str) -> set[str]:
        names = set()
        for sentence in make_sentences("de", split, 300):
            spans = []
            for word, label in zip(sentence.words, sentence.labels, strict=True):
                if label == "B-LOC":
                    spans.append([word])
                elif label == "I-LOC":
                    spans[-1].append(word)
            names |= {" ".join(span) for span in spans}
        return names

    train_names, test_names = countries("train"), countries("test")
    assert train_names and test_names and not train_names & test_names
    with pytest.raises(ValueError, match="no NER templates"):
        entity_names("sw")
    with pytest.raises(ValueError, match="split must be"):
        make_sentences("en", "dev", 1)


def test_sub_word_labels_are_minus_100_after_the_first_token(tiny_source):
    sentences = make_sentences("en", "train", 8)
    batch = encode_sentences(tiny_source, sentences, max_length=128)
    for row, sentence in enumerate(sentences):
        labelled = batch["labels"][row][batch["labels"][row] != -100]
        assert [LABELS[i] for i in labelled.tolist()] == list(sentence.labels)
    assert (batch["input_ids"].shape == batch["labels"].shape)
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()


def test_tagging_round_trip_and_f1(tiny_source):
    model = finetune_ner(tiny_source, make_sentences("en", "train", 40), NERConfig(steps=2, batch_size=8, warmup_steps=1))
    sentences = make_sentences("ja", "test", 6)
    predicted = predict_labels(model, tiny_source, sentences)
    assert [len(p) for p in predicted] == [len(s.words) for s in sentences]
    assert all(label in LABELS for p in predicted for label in p)
    gold = [s.labels for s in sentences]
    assert entity_f1(gold, gold) == 1.0
    assert entity_f1(gold, [["O"] * len(g) for g in gold]) == 0.0
    with pytest.raises(ValueError, match="same number of sentences"):
        entity_f1(gold, gold[:-1])
    assert 0.4 < label_shares(make_sentences("en", "train", 50))["O"] < 0.95


# --- translation --------------------------------------------------------------------------------------------------


def test_translation_data_keeps_test_messages_out_of_training():
    data = translation_data("en", "fr")
    assert set(data.train["kind"]) == {"UI message", "emoji name"}
    assert not set(data.test["concept"]) & set(data.train["concept"])
    assert data.test["source"].is_unique


def test_warm_start_copies_the_masked_language_model(tiny_source):
    mlm = build_encoder(tiny_source.config, seed=3)
    warm = seq2seq_from_mlm(mlm, warm_start=True)
    cold = seq2seq_from_mlm(mlm, warm_start=False)
    word = mlm.roberta.embeddings.word_embeddings.weight
    assert torch.equal(warm.encoder.embeddings.word_embeddings.weight, word)
    assert torch.equal(warm.decoder.roberta.embeddings.word_embeddings.weight, word)
    assert torch.equal(warm.decoder.lm_head.dense.weight, mlm.lm_head.dense.weight)
    assert not torch.equal(cold.encoder.embeddings.word_embeddings.weight, word)
    assert warm.config.decoder_start_token_id == mlm.config.bos_token_id


def test_translator_trains_and_decodes(tiny_source):
    import pandas as pd

    model = seq2seq_from_mlm(build_encoder(tiny_source.config, seed=0), warm_start=True)
    pairs = pd.DataFrame({"source": ["dog", "cat", "red heart"], "target": ["chien", "chat", "cœur rouge"]})
    history = train_translator(model, tiny_source.tokenizer, pairs, TranslatorConfig(steps=2, batch_size=2, warmup_steps=1))
    assert len(history.losses) == 2
    outputs = translate(model, tiny_source.tokenizer, ["dog", "cat"], num_beams=2, max_length=8)
    assert len(outputs) == 2 and all(isinstance(text, str) for text in outputs)
    with pytest.raises(ValueError, match="pairs is empty"):
        train_translator(model, tiny_source.tokenizer, pairs.iloc[:0])


def test_translation_scores_are_perfect_on_the_references_and_checked():
    references = ["Saisissez un nom valide.", "Heure"]
    perfect = translation_scores(references, references, "fr")
    assert perfect["BLEU"] == pytest.approx(100.0) and perfect["chrF"] == pytest.approx(100.0)
    assert translation_scores(["你好世界"], ["你好世界"], "zh-Hans")["BLEU"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="as many hypotheses"):
        translation_scores(["a"], ["a", "b"], "fr")


def test_ner_positions_count_from_the_models_offset(tiny_source):
    sentences = make_sentences("en", "train", 4)
    bert_source = dataclasses.replace(tiny_source, config=replace_config(tiny_source.config, model_type="bert"))
    assert bert_source.position_offset == 0
    xlmr, bert = encode_sentences(tiny_source, sentences), encode_sentences(bert_source, sentences)
    real = xlmr["attention_mask"].bool()
    assert (xlmr["position_ids"][:, 0] == 2).all() and (bert["position_ids"][:, 0] == 0).all()
    assert torch.equal(xlmr["position_ids"][real] - 2, bert["position_ids"][real])
    lengths = real.sum(1)  # consecutive positions on the real tokens of each sentence
    assert all(bert["position_ids"][row, :n].tolist() == list(range(n)) for row, n in enumerate(lengths.tolist()))
