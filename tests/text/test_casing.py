"""Text as people write it, and back (chapter 3.9): xlm_course.text.casing."""

from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.data import EMOJI_LANGUAGES, load_emoji_names
from xlm_course.text import as_written, normalise


@pytest.mark.parametrize(("name", "lang", "written"), [
    ("lächelndes gesicht", "de", "Lächelndes Gesicht."),
    ("pfeil nach links", "de", "Pfeil nach links."),  # "links" is the adverb here, not the noun (the links)
    ("grinsendes gesicht mit großen augen", "de", "Grinsendes Gesicht mit großen Augen."),
    ("grinning face", "en", "Grinning face."),
    ("visage souriant", "fr", "Visage souriant."),
    ("улыбающееся лицо", "ru", "Улыбающееся лицо."),
    ("ılık", "tr", "Ilık."),
    ("iki göz", "tr", "İki göz."),  # Turkish: i → İ, not I
    ("笑脸", "zh-Hans", "笑脸。"),  # no case; the script's own full stop
    ("ニコニコ", "ja", "ニコニコ。"),
    ("وجه مبتسم", "ar", "وجه مبتسم."),
])
def test_as_written_capitalises_as_the_language_does(name, lang, written):
    assert as_written(name, lang) == written
    assert as_written(name, lang, stop=False) == written.rstrip(".。")
    assert normalise(written, lang) == name


def test_normalise_undoes_the_writing_of_every_emoji_name_in_every_language():
    names = load_emoji_names(list(EMOJI_LANGUAGES))
    texts, langs = names["text"], names["lang"]
    pairs = list(zip(texts, langs, strict=True))
    undone = [normalise(as_written(text, lang), lang) == normalise(text, lang) for text, lang in pairs]
    assert all(undone), [text for text, ok in zip(texts, undone, strict=True) if not ok][:10]
    changed = sum(as_written(text, lang, stop=False) != text for text, lang in pairs)
    assert changed > len(texts) / 2  # and the writing is not a no-op: most names gain a capital


def test_the_data_writes_names_in_lower_case_except_some_english_and_russian_ones():
    # what the module's docstring and chapter 3.9 say about the emoji package
    names = load_emoji_names(list(EMOJI_LANGUAGES)).to_pandas()
    share = names["text"].ne(names["text"].str.lower()).groupby(names["lang"]).mean()
    assert share[["en", "ru"]].between(1 / 8, 1 / 4).all()
    assert (share.drop(["en", "ru", "zh-Hans"]) == 0).all() and share["zh-Hans"] < 0.02  # a few Latin letters


def test_a_noun_after_the_first_word_is_capitalised_in_over_a_quarter_of_german_names():
    names = load_emoji_names(["de"])["text"]
    with_capital_inside = [name for name in names if any(w[:1].isupper() for w in as_written(name, "de").split()[1:])]
    assert len(with_capital_inside) > len(names) / 4


def test_normalise_folds_width_spaces_stops_and_turkish_capitals():
    assert normalise("  Ｌächelndes   Gesicht!!  ", "de") == "lächelndes gesicht"
    assert normalise("İKİ IŞIK", "tr") == "iki ışık"
    assert normalise("IKI", "en") == "iki"  # only Turkish and Azerbaijani pair I with ı
    assert normalise("Straße", "de") == "straße"  # lower(), not casefold(): ß stays ß


LETTERS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzäöüßçğışéèàñ "), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(text=LETTERS, lang=st.sampled_from(["en", "fr", "tr", "es", "de"]))
def test_writing_then_normalising_is_normalising(text, lang):
    assert normalise(as_written(text, lang), lang) == normalise(text, lang)
    assert normalise(normalise(text, lang), lang) == normalise(text, lang)  # idempotent


@pytest.mark.parametrize("bad", [None, 3, b"gesicht"])
def test_non_strings_are_refused(bad):
    with pytest.raises(TypeError, match="must be strings"):
        as_written(bad, "de")
    with pytest.raises(TypeError, match="must be strings"):
        normalise("gesicht", bad)


def test_a_normalising_source_encodes_a_written_name_as_the_name(tiny_source):
    source = replace(tiny_source, normalise=normalise)
    names, langs = ["lächelndes gesicht", "visage souriant"], ["de", "fr"]
    written = [as_written(name, lang) for name, lang in zip(names, langs, strict=True)]
    plain, raw = tiny_source.encode(names, langs, 16), tiny_source.encode(written, langs, 16)
    assert not torch.equal(plain["input_ids"], raw["input_ids"])  # the capitals and stops reach the model...
    normalised = source.encode(written, langs, 16)
    assert all(torch.equal(plain[key], normalised[key]) for key in plain)  # ...unless the source normalises


def test_a_source_refuses_a_normalise_that_is_not_a_function(tiny_source):
    with pytest.raises(TypeError, match="normalise must be a function"):
        replace(tiny_source, normalise="lower")
