"""The ``hub`` profile's code path, offline: hub names resolve to local folders through the same
``from_pretrained`` call that downloads them online."""

import json
import os
import subprocess
import sys

import pytest

from xlm_course.models.encoder import build_encoder, encoder_config
from xlm_course.models.hub import hub_cache_entry, seed_hub_cache
from xlm_course.runtime import PROFILES

# Run in a fresh process: huggingface_hub reads HF_HUB_CACHE once, when it is imported.
PROBE = """
import json
from xlm_course.transfer import course_encoders, e5_small
encoders = course_encoders()
e5 = e5_small()
print(json.dumps({"names": list(encoders), "source": encoders["jointly pretrained"].name,
    "xlmr": float(encoders["jointly pretrained"].weights[
    "embeddings.word_embeddings.weight"].sum()), "e5": float(e5.weights["embeddings.word_embeddings.weight"][:1000].sum()),
    "e5_class": type(e5.encoder()).__name__, "prefix": e5.prefix}))
"""


@pytest.fixture(scope="module")
def tiny_xlmr(tmp_path_factory, tiny_source):
    folder = tmp_path_factory.mktemp("tiny-xlmr")
    config = encoder_config(len(tiny_source.tokenizer), ["en"], PROFILES["ci"], hidden_size=16, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=32)
    model = build_encoder(config, seed=3)
    model.save_pretrained(folder)
    tiny_source.tokenizer.save_pretrained(folder)
    return folder, float(model.roberta.embeddings.word_embeddings.weight.detach().sum())


def test_the_hub_profile_loads_hub_names_from_local_folders(tmp_path, tiny_xlmr):
    from xlm_course.models.e5 import HUB_NAME, e5_small_folder, load_e5_small

    folder, xlmr_sum = tiny_xlmr
    cache = tmp_path / "hub"
    seed_hub_cache("xlm-roberta-base", folder, cache)
    seed_hub_cache(HUB_NAME, e5_small_folder(), cache)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "XLM_COURSE_PROFILE": "hub"}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    rebuilt = load_e5_small()[0].embeddings.word_embeddings.weight[:1000].detach().sum()
    assert found["names"] == ["jointly pretrained", "random init"] and found["source"] == "xlm-roberta-base"
    assert found["xlmr"] == pytest.approx(xlmr_sum)
    assert found["e5"] == pytest.approx(float(rebuilt)) and found["e5_class"] == "BertModel"
    assert found["prefix"] == "query: "


def test_a_seeded_entry_has_the_layout_of_a_download(tmp_path, tiny_xlmr):
    folder, _ = tiny_xlmr
    snapshot = seed_hub_cache("FacebookAI/xlm-roberta-base", folder, tmp_path)
    entry = hub_cache_entry("FacebookAI/xlm-roberta-base", tmp_path)
    assert entry.name == "models--FacebookAI--xlm-roberta-base" and snapshot.parent == entry / "snapshots"
    assert (entry / "refs" / "main").read_text() == snapshot.name and len(snapshot.name) == 40
    assert {p.name for p in snapshot.iterdir()} == {p.name for p in folder.iterdir() if p.is_file()}
    assert seed_hub_cache("FacebookAI/xlm-roberta-base", folder, tmp_path) == snapshot  # idempotent


def test_bad_names_and_folders_are_refused(tmp_path):
    for name in ("", "a/b/c", "/abs", "trailing/"):
        with pytest.raises(ValueError, match="org/name"):
            hub_cache_entry(name, tmp_path)
    with pytest.raises(ValueError, match="no config.json"):
        seed_hub_cache("org/model", tmp_path, tmp_path / "cache")


def test_the_stand_ins_command_seeds_both_hub_names(tmp_path, tiny_xlmr, monkeypatch, capsys):
    from types import SimpleNamespace

    from xlm_course import cli, pretraining
    from xlm_course.models.e5 import HUB_NAME, e5_small_folder

    folder, _ = tiny_xlmr
    monkeypatch.setattr(pretraining, "pretrain", lambda setup, progress=False: SimpleNamespace(folder=folder))
    assert cli.main(["hub-stand-ins", str(tmp_path)]) == 0
    for name, source in (("xlm-roberta-base", folder), (HUB_NAME, e5_small_folder())):
        snapshot = hub_cache_entry(name, tmp_path) / "snapshots"
        files = {p.name: p.resolve() for p in next(snapshot.iterdir()).iterdir()}
        assert files["config.json"] == (source / "config.json").resolve()
    assert "HF_HUB_CACHE" in capsys.readouterr().out
