"""Joint pretraining: setups, deterministic batches, every objective's term, caching, retrieval."""

import pytest
import torch

from xlm_course.pretraining import PretrainingSetup, PretrainingTask, prepare_data, pretrain

LANGUAGES = ("en", "fr", "sw")


@pytest.fixture(scope="module")
def data():
    return prepare_data(LANGUAGES, vocab_size=1500, alpha=0.3, seed=0)


def tiny(**kwargs):
    return PretrainingSetup(languages=LANGUAGES, vocab_size=1500, steps=6, batch_size=8, profile="ci", **kwargs)


def test_held_out_messages_are_not_in_the_training_pairs(data):
    train_sources = set(data.train_pairs["source"]) | set(data.train_pairs["target"])
    monolingual = set(zip(data.monolingual["lang"], data.monolingual["text"], strict=True))
    for lang, (sources, targets) in data.test_pairs.items():
        assert sources and not {(lang, target) for target in targets} & monolingual
        assert not set(sources) & train_sources
    assert data.language_ids == {"en": 0, "fr": 1, "sw": 2}


def test_batches_are_a_pure_function_of_the_step(data):
    task = PretrainingTask(tiny(), data)
    first, again, other = task.batch_fn(3), task.batch_fn(3), task.batch_fn(4)
    assert first.keys() == again.keys() == {"mlm", "tlm", "source", "target"}
    assert all(torch.equal(first[part][key], again[part][key]) for part in first for key in first[part])
    assert not torch.equal(first["mlm"]["input_ids"], other["mlm"]["input_ids"])
    assert "labels" in first["mlm"] and "labels" in first["tlm"] and "labels" not in first["source"]


def test_contrastive_batches_have_distinct_concepts(data):
    task = PretrainingTask(tiny(), data)
    generator = torch.Generator().manual_seed(0)
    chosen = task._distinct_concepts(generator)
    assert len({task.concepts[i] for i in chosen}) == len(chosen) == 8


def test_ablations_only_build_what_they_use(data):
    batch = PretrainingTask(tiny(objectives=("mlm",)), data).batch_fn(0)
    assert set(batch) == {"mlm"}


def test_pretrain_records_each_objective_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("XLM_COURSE_CACHE", str(tmp_path))
    first = pretrain(tiny(lam=2.0), progress=False)
    assert list(first.history.frame().columns) == ["lr", "mlm", "tlm", "cross", "loss"]
    frame = first.history.frame()
    torch.testing.assert_close(torch.tensor(frame["loss"].values),
                               torch.tensor((frame["mlm"] + frame["tlm"] + 2.0 * frame["cross"]).values))
    again = pretrain(tiny(lam=2.0), progress=False)
    assert again.folder == first.folder and len([p for p in tmp_path.glob("pretrained-*") if p.is_dir()]) == 1
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    table = again.task.retrieval(again.model)
    assert set(table.index) == {"fr", "sw"} and (table["mean"] >= 0).all()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"objectives": ("tlm",)}, "include 'mlm'"), ({"objectives": ("mlm", "nsp")}, "include 'mlm'"),
    ({"lam": 0.0}, "λ must be positive"), ({"languages": ("fr", "en")}, "pivot"),
    ({"alpha": 0.0}, "alpha"), ({"temperature": 0.0}, "temperature"), ({"dropout": 1.0}, "dropout"),
    ({"pair_sources": ("wiki",)}, "pair_sources"), ({"steps": 0}, "steps"), ({"batch_size": 2.5}, "batch_size"),
])
def test_bad_setups(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PretrainingSetup(**kwargs)


def test_batches_built_from_ids_tokenised_once_equal_batches_tokenised_per_step(data):
    """The batch of a step, re-built the way the loop built it before texts were tokenised once per run."""
    from xlm_course.text.inputs import encode, tlm_inputs
    from xlm_course.text.masking import mask_batch
    from xlm_course.training import step_generator, step_random

    task = PretrainingTask(tiny(), data)
    setup, tokenizer, ids = task.setup, data.tokenizer, data.language_ids
    for step in (0, 5):
        generator, rng = step_generator(setup.seed, step), step_random(setup.seed, step)
        rows = task.mono_sampler.draw(setup.masked_batch_size, generator).tolist()
        reference = {"mlm": mask_batch(encode(tokenizer, [task.mono_texts[i] for i in rows],
                                              [task.mono_langs[i] for i in rows], ids, setup.max_length),
                                       tokenizer, generator)}
        pairs = task._distinct_concepts(generator)
        sources, targets = [task.sources[i] for i in pairs], [task.targets[i] for i in pairs]
        langs, n = [task.pair_langs[i] for i in pairs], setup.masked_batch_size
        flip = [rng.random() < 0.5 for _ in pairs[:n]]
        first = [t if f else s for s, t, f in zip(sources[:n], targets[:n], flip, strict=True)]
        second = [s if f else t for s, t, f in zip(sources[:n], targets[:n], flip, strict=True)]
        tlm = tlm_inputs(tokenizer, first, second, [lang if f else "en" for lang, f in zip(langs, flip, strict=False)],
                         ["en" if f else lang for lang, f in zip(langs, flip, strict=False)], ids, setup.max_length)
        reference["tlm"] = mask_batch(tlm, tokenizer, generator)
        reference["source"] = encode(tokenizer, sources, ["en"] * len(pairs), ids, setup.max_length)
        reference["target"] = encode(tokenizer, targets, langs, ids, setup.max_length)
        batch = task.batch_fn(step)
        assert batch.keys() == reference.keys()
        assert all(batch[part].keys() == reference[part].keys() for part in batch)
        assert all(torch.equal(batch[part][key], reference[part][key]) for part in batch for key in batch[part])


def test_held_out_pairs_drop_repeated_sources_and_targets():
    """A repeated English text or translation makes top-1 retrieval ambiguous, so held_out_pairs keeps the first."""
    import datasets

    from xlm_course.pretraining import held_out_pairs

    rows = {"concept": ["a", "a", "b", "b", "c", "c", "d", "d"], "lang": ["en", "fr"] * 4,
            "text": ["Save", "Enregistrer", "save", "Sauver", "Delete", "Supprimer", "Remove", "supprimer"]}
    pairs = held_out_pairs(datasets.Dataset.from_dict(rows), ("en", "fr"))
    assert pairs == {"fr": (["Save", "Delete"], ["Enregistrer", "Supprimer"])}


def test_contrastive_batches_are_full_even_when_most_pairs_share_a_concept(data):
    """Four draws a wanted pair once returned a short batch, silently, when concepts repeat; now more rounds are
    drawn until the batch holds batch_size distinct concepts, and too few concepts are an error."""
    task = PretrainingTask(tiny(), data)
    rare = set(range(0, len(task.concepts), max(1, len(task.concepts) // 8)))  # 8 rows keep their own concept
    task.concepts = [f"rare {i}" if i in rare else "common" for i in range(len(task.concepts))]
    for seed in range(5):
        chosen = task._distinct_concepts(torch.Generator().manual_seed(seed))
        assert len({task.concepts[i] for i in chosen}) == len(chosen) == 8
    task.concepts = ["common"] * len(task.concepts)
    with pytest.raises(ValueError, match="too few for 8 distinct"):
        task._distinct_concepts(torch.Generator().manual_seed(0))
