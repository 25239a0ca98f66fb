"""MLM masking: specials never masked, 15% selected, 80/10/10, and the same statistics as transformers'."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import DataCollatorForLanguageModeling

from xlm_course.text import train_tokenizer
from xlm_course.text.masking import IGNORE_INDEX, mask_tokens, special_ids_of

VOCAB, MASK, SPECIAL = 50, 49, [0, 1, 2, 3, 49]


def batches():
    return st.integers(1, 6).flatmap(lambda rows: st.integers(1, 30).flatmap(
        lambda cols: st.lists(st.lists(st.integers(0, VOCAB - 1), min_size=cols, max_size=cols), min_size=rows,
                              max_size=rows)))


@settings(deadline=None, max_examples=80)
@given(batches(), st.integers(0, 2**31 - 1), st.floats(0.01, 0.99))
def test_masking_invariants(rows, seed, probability):
    ids = torch.tensor(rows)
    masked, labels = mask_tokens(ids, MASK, SPECIAL, VOCAB, probability, generator=torch.Generator().manual_seed(seed))
    special = torch.isin(ids, torch.tensor(SPECIAL))
    selected = labels != IGNORE_INDEX
    assert not (selected & special).any()  # special tokens are never targets
    assert torch.equal(masked[special], ids[special])  # ... nor changed
    assert torch.equal(labels[selected], ids[selected])  # labels are the original tokens
    assert torch.equal(masked[~selected], ids[~selected])  # unselected inputs are untouched
    changed = masked[selected & (masked != ids)]
    assert not torch.isin(changed, torch.tensor([0, 1, 2, 3])).any()  # replacements: <mask> or ordinary


def rates(masked, labels, ids, mask_id, special):
    maskable = ~torch.isin(ids, torch.tensor(special))
    selected = labels != IGNORE_INDEX
    n = selected.sum().item()
    return {
        "selected": n / maskable.sum().item(),
        "mask": (selected & (masked == mask_id)).sum().item() / n,
        "keep": (selected & (masked == ids)).sum().item() / n,
    }


def test_statistics_are_those_of_bert_and_of_transformers_collator():
    tokenizer = train_tokenizer(["a shared vocabulary for every language", "une langue", "eine Sprache"] * 50,
                                vocab_size=400)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, len(tokenizer) - 1, (400, 64), generator=generator)
    ids[:, 0], ids[:, -1], ids[:50, 40:-1] = 0, 2, tokenizer.pad_token_id
    special = special_ids_of(tokenizer)
    ours = rates(*mask_tokens(ids, tokenizer.mask_token_id, special, len(tokenizer), generator=generator), ids,
                 tokenizer.mask_token_id, special)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=0, return_tensors="pt")
    batch = collator([{"input_ids": row.tolist()} for row in ids])
    theirs = rates(batch["input_ids"], batch["labels"], ids, tokenizer.mask_token_id, special)
    expected = {"selected": 0.15, "mask": 0.8, "keep": 0.1 + 0.1 / len(tokenizer)}
    for key, value in expected.items():
        assert abs(ours[key] - value) < 0.01, (key, ours)
        assert abs(ours[key] - theirs[key]) < 0.015, (key, ours, theirs)


def test_input_is_not_modified_and_seed_repeats():
    ids = torch.randint(4, 49, (4, 10))
    before = ids.clone()
    first = mask_tokens(ids, MASK, SPECIAL, VOCAB, generator=torch.Generator().manual_seed(1))
    second = mask_tokens(ids, MASK, SPECIAL, VOCAB, generator=torch.Generator().manual_seed(1))
    assert torch.equal(ids, before) and all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"mlm_probability": 0.0}, ValueError, "mlm_probability"),
    ({"mlm_probability": 1.5}, ValueError, "mlm_probability"),
    ({"mask_fraction": 0.9, "random_fraction": 0.2}, ValueError, "sum to at most 1"),
    ({"mask_token_id": 7}, ValueError, "special ids"),
])
def test_bad_arguments(kwargs, error, match):
    arguments = {"mask_token_id": MASK, "special_ids": SPECIAL, "vocab_size": VOCAB, **kwargs}
    with pytest.raises(error, match=match):
        mask_tokens(torch.tensor([[5, 6, 7]]), **arguments)


def test_bad_ids():
    with pytest.raises(TypeError, match="LongTensor"):
        mask_tokens(torch.tensor([[1.0, 2.0]]), MASK, SPECIAL, VOCAB)
    with pytest.raises(ValueError, match=r"must lie in \[0, 50\)"):
        mask_tokens(torch.tensor([[5, 60]]), MASK, SPECIAL, VOCAB)
