import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.data import english_name, native_name, select_languages, to_bcp47


@pytest.mark.parametrize(("raw", "canonical"), [
    ("zh_Hans", "zh-Hans"), ("zh", "zh-Hans"), ("zh_Hant", "zh-Hant"), ("sw_Latn", "sw"), ("yo-Latn", "yo"),
    ("sr", "sr-Cyrl"), ("sr_Latn", "sr-Latn"), ("hi-Latn", "hi-Latn"), ("pt_BR", "pt-BR"), ("iw", "he"),
    ("EN", "en"), ("ja_Jpan", "ja"),
])
def test_to_bcp47(raw, canonical):
    assert to_bcp47(raw) == canonical


@pytest.mark.parametrize("bad", ["", "  ", "!!", "en-!!", None, 3])
def test_bad_tags_are_rejected(bad):
    with pytest.raises(ValueError, match="language tag"):
        to_bcp47(bad)


def test_names():
    assert english_name("zh-Hans") == "Chinese (Simplified)"
    assert native_name("hi") == "हिन्दी"


def test_select_languages_lists_what_is_available():
    assert select_languages(None, ["en", "fr"], "src") == ["en", "fr"]
    assert select_languages(["zh_Hans"], ["en", "zh-Hans"], "src") == ["zh-Hans"]
    with pytest.raises(ValueError, match=r"src has no language 'xh'.*Available \(2\): en, fr"):
        select_languages(["xh"], ["en", "fr"], "src")
    with pytest.raises(TypeError, match="list of tags"):
        select_languages("en", ["en"], "src")
    with pytest.raises(ValueError, match="empty"):
        select_languages([], ["en"], "src")
    with pytest.raises(ValueError, match="more than once"):
        select_languages(["en", "EN"], ["en"], "src")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["en", "EN", "zh", "zh_Hans", "zh-Hant", "sw_Latn", "pt-BR", "ar", "sr-Cyrl", "ja", "hi",
                        "fr_CA", "de-DE", "uz-Latn", "mn"]))
def test_to_bcp47_is_idempotent(tag):
    once = to_bcp47(tag)
    assert to_bcp47(once) == once
