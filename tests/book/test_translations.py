"""The Chinese edition (tools/i18n.py, locales/zh_CN): complete, faithful to the markup, consistent with the
glossary, and a changed English sentence cannot slip through untranslated."""

from __future__ import annotations

import importlib.util
import re
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "locales" / "zh_CN" / "LC_MESSAGES"
spec = importlib.util.spec_from_file_location("i18n", ROOT / "tools" / "i18n.py")
i18n = importlib.util.module_from_spec(spec)
spec.loader.exec_module(i18n)
spec = importlib.util.spec_from_file_location("language_switch", ROOT / "book" / "_ext" / "language_switch.py")
language_switch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(language_switch)


def _messages() -> list[tuple[str, str, str]]:
    """(page, English, Chinese) for every translated message of every catalogue."""
    found = []
    for path in sorted(CATALOGUES.rglob("*.po")):
        page = path.relative_to(CATALOGUES).with_suffix("").as_posix()
        with open(path, encoding="utf-8") as handle:
            found += [(page, m.id, m.string) for m in read_po(handle) if m.id and m.string]
    return found


MESSAGES = _messages()


def test_every_page_of_the_book_has_a_catalogue():
    pages = {page for page, _, _ in MESSAGES}
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert {line.split("file:")[1].strip() for line in toc.splitlines() if "file:" in line} <= pages
    assert "book/intro" in pages and len(MESSAGES) > 1500


# A role with its target ({cite}`…`, {glue:text}`…`, {doc}`…`) or an inline code span, read left to right so
# that `{var}` inside code is code; then inline maths; then link targets.
TOKEN = re.compile(r"(?<!`)\{[\w:.-]+\}`[^`]*`|`[^`]+`")
MATH = re.compile(r"\$[^$]+\$")
LINK = re.compile(r"\]\(([^)]+)\)|<(https?://[^>]+)>")


def _markup(text: str) -> tuple[Counter, Counter, Counter]:
    tokens = TOKEN.findall(text)
    rest = TOKEN.sub(" ", text)
    return Counter(tokens), Counter(MATH.findall(rest)), Counter(LINK.findall(text))


def test_translations_keep_every_formula_role_code_span_and_link():
    """Formulas, code, citations, glued numbers and links are the same in both editions: only prose differs. A
    mistyped glue name or citation key would otherwise render as an error or a wrong number in Chinese only."""
    broken = [(page, kind, dict(en - zh), dict(zh - en))
              for page, english, chinese in MESSAGES
              for kind, en, zh in zip(("role or code", "maths", "link"), _markup(english), _markup(chinese), strict=True)
              if en != zh]
    assert broken == []


def test_markup_check_catches_a_mangled_glue_name_and_a_translated_formula():
    english = "Sampling triples Swahili (×{glue:text}`alpha_swahili_upsampling:.1f`) at $\\alpha = 0.3$."
    assert _markup(english) == _markup("采样让斯瓦希里语翻了三倍（×{glue:text}`alpha_swahili_upsampling:.1f`），$\\alpha = 0.3$。")
    assert _markup(english) != _markup("采样让斯瓦希里语翻了三倍（×{glue:text}`alpha_swahili:.1f`），$\\alpha = 0.3$。")
    assert _markup(english) != _markup("采样让斯瓦希里语翻了三倍（×{glue:text}`alpha_swahili_upsampling:.1f`），$\\alpha = 0,3$。")


GLOSSARY = re.findall(r"^(\S[^\n·]*?) · (\S[^\n]*)$",
                      (ROOT / "book" / "glossary.md").read_text(encoding="utf-8").split("```{glossary}")[1], re.M)
# Where a glossary word is used in another sense, the Chinese rightly differs. Each exception: page, term, why.
EXCEPTIONS = {
    ("chapters/03_joint_pretraining/04_finetuning_transfer", "Vocabulary"):
        "the vocabulary of a text (the words it uses: 词汇), not a model's vocabulary (词表)",
    ("chapters/06_applications/06_outlook", "Vocabulary"): "the vocabulary of the parallel data: 词汇",
}


def _english_pattern(term: str) -> re.Pattern:
    """The glossary's English head word(s), e.g. "Masked language modelling (MLM)" -> masked language modelling,
    with a plural -s and both -isation and -ization accepted."""
    words = re.sub(r"\s*\(.*?\)", "", term).lower().split()
    last = re.escape(words[-1]).replace("isation", "i[sz]ation") + "s?"
    return re.compile(r"\b" + r"[\s-]+".join([re.escape(w) for w in words[:-1]] + [last]) + r"\b", re.I)


def _chinese_forms(term: str, chinese: str) -> list[str]:
    """What counts as the glossary's Chinese: the term, its bracketed alias, the English abbreviation or name
    kept in the Chinese text (MLM, LoRA, softmax), and the term without 系统/能力 where it names a system or
    ability (推荐系统 -> 推荐, 泛化能力 -> 泛化), as Chinese does when the English names the activity."""
    main = re.sub(r"（.*?）", "", chinese).strip()
    forms = [main, *re.findall(r"（(.*?)）", chinese), *re.findall(r"\((.*?)\)", term)]
    forms += [main[: -len(suffix)] for suffix in ("系统", "能力") if main.endswith(suffix)]
    return forms


def test_glossary_terms_are_translated_as_the_glossary_says():
    """Wherever a translated message's English uses a glossary term, its Chinese uses the glossary's Chinese."""
    assert len(GLOSSARY) > 40
    missing, excused = [], set()
    for page, english, chinese in MESSAGES:
        if page == "book/glossary":
            continue
        for term, zh in GLOSSARY:
            pattern = _english_pattern(term)
            if not pattern.search(english):
                continue
            if any(form in chinese for form in _chinese_forms(term, zh)) or pattern.search(chinese):
                continue
            head = re.sub(r"\s*\(.*?\)", "", term)
            if (page, head) in EXCEPTIONS:
                excused.add((page, head))
                continue
            missing.append((page, head, zh, english[:70]))
    assert missing == []
    assert excused == set(EXCEPTIONS), "an exception no longer applies: remove it"


def test_glossary_patterns_match_inflections_and_spellings():
    assert _english_pattern("Tokenisation").search("tokenization per language")
    assert _english_pattern("Masked language modelling (MLM)").search("masked-language modelling")
    assert _english_pattern("Adapter").search("three adapters") and not _english_pattern("Adapter").search("adapted")
    assert "推荐" in _chinese_forms("Recommendation", "推荐系统")
    assert _chinese_forms("LoRA", "低秩适配（LoRA）")[:2] == ["低秩适配", "LoRA"]


def _book_copy(tmp_path: Path) -> Path:
    """What the gettext build reads: the config, the toc, the pages and notebooks, and the catalogues."""
    copy = tmp_path / "book"
    copy.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, copy / name)
    for folder in ("book", "chapters", "exercises", "locales"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return copy


def test_a_changed_english_sentence_fails_the_check_as_fuzzy(tmp_path):
    """The drift check (`make check-translations`): in a copy of the book, change one English sentence and add
    one paragraph; the check names the first as fuzzy and the second as untranslated, and nothing else."""
    copy = _book_copy(tmp_path)
    notation = copy / "book" / "notation.md"
    text = notation.read_text(encoding="utf-8")
    old = "Vectors are rows: a batch of $B$ sequences"
    assert old in text
    notation.write_text(text.replace(old, "Vectors are rows: a batch holding $B$ sequences")
                        + "\nA paragraph no translator has seen yet.\n", encoding="utf-8")
    count, found = i18n.verify(copy)
    assert count > 1500
    assert len(found) == 2, found
    fuzzy, untranslated = sorted(found)
    assert fuzzy.startswith("book/notation.po: fuzzy") and "a batch holding $B$ sequences" in fuzzy
    assert untranslated.startswith("book/notation.po: untranslated") and "no translator has seen" in untranslated


def test_edition_configs():
    zh = i18n.edition_config("zh", check=True)
    assert zh["title"] == "跨语言 Transformer 实战"
    assert zh["sphinx"]["config"]["language"] == "zh_CN" and zh["sphinx"]["config"]["language_switch_url"] == "../html/"
    assert zh["execute"]["execute_notebooks"] == "off" and "mystnb.glue" in zh["sphinx"]["config"]["suppress_warnings"]
    assert zh["execute"]["cache"] == "_build/.jupyter_cache"  # shared with the English build: nothing runs twice
    en = i18n.edition_config("en", hide_solutions=True)
    assert "language" not in en["sphinx"]["config"] and en["sphinx"]["config"]["hide_solutions"] is True
    assert en["execute"]["execute_notebooks"] == "cache"
    assert all(Path(path).is_absolute() for path in en["sphinx"]["local_extensions"].values())
    with pytest.raises(ValueError, match="'en' or 'zh'"):
        i18n.edition_config("fr")


@pytest.mark.parametrize("page, url", [("book/intro", "../../html-zh/book/intro.html"),
                                       ("chapters/01_background/01_why_cross_lingual",
                                        "../../../html-zh/chapters/01_background/01_why_cross_lingual.html")])
def test_language_switch_links_to_the_same_page_in_the_other_edition(page, url):
    config = SimpleNamespace(language_switch_url="../html-zh/", language_switch_label="中文",
                             language_switch_tooltip="阅读本页的中文版", language_switch_hreflang="zh-CN")
    app = SimpleNamespace(config=config, builder=SimpleNamespace(out_suffix=".html"))
    context = {"header_buttons": [], "metatags": ""}
    language_switch.add_switch(app, page, "page.html", context, None)
    [button] = context["header_buttons"]
    assert button["url"] == url and button["text"] == "中文"
    assert f'hreflang="zh-CN" href="{url}"' in context["metatags"]


def _glue_book(tmp_path: Path, extensions: list[str]) -> Path:
    """A one-notebook Sphinx project in Chinese whose translated paragraph glues a number from the notebook."""
    import json

    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    source = tmp_path / "src"
    source.mkdir(parents=True)
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\nextensions = {extensions!r}\n"
        "language = 'zh_CN'\nlocale_dirs = ['locales']\ngettext_compact = False\nnb_execution_mode = 'off'\n",
        encoding="utf-8")
    sentence = "Swahili is seen {glue:text}`upsampling:.1f` times as often."
    glued = {"output_type": "display_data", "data": {"text/plain": "3.14159"},
             "metadata": {"scrapbook": {"name": "upsampling", "mime_prefix": ""}}}
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3",
                "display_name": "Python 3", "language": "python"}}, "cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": f"# Sampling\n\n{sentence}"},
        {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 1, "source": "glue(...)",
         "outputs": [glued]}]}
    (source / "index.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    catalog = Catalog(locale="zh_CN")
    catalog.add("Sampling", "采样")
    catalog.add(sentence, "斯瓦希里语被看到的次数是原来的 {glue:text}`upsampling:.1f` 倍。")
    (source / "locales" / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    with open(source / "locales" / "zh_CN" / "LC_MESSAGES" / "index.po", "wb") as handle:
        write_po(handle, catalog)
    from sphinx.application import Sphinx

    out = tmp_path / "html"
    Sphinx(str(source), str(source), str(out), str(tmp_path / "doctrees"), "html", status=None,
           warning=None, freshenv=True).build()
    return out / "index.html"


def test_a_glued_number_renders_inside_a_translated_paragraph(tmp_path):
    """book/_ext/glue_in_translations.py: without it, myst-nb finds no glue data in a translated paragraph and
    the number is left out of the Chinese page."""
    with_it = _glue_book(tmp_path / "with", ["myst_nb", "glue_in_translations"]).read_text(encoding="utf-8")
    assert '原来的 <span class="pasted-text">3.1</span> 倍' in with_it
    without = _glue_book(tmp_path / "without", ["myst_nb"]).read_text(encoding="utf-8")
    assert "斯瓦希里语被看到的次数是原来的" in without and "pasted-text" not in without


def _details_book(tmp_path: Path, extensions: list[str], builder: str = "html") -> Path:
    """A one-notebook Sphinx project in Chinese with a model answer collapsed under a <summary> label."""
    import json

    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po
    from sphinx.application import Sphinx

    source = tmp_path / "src"
    (source / "locales" / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\nextensions = {extensions!r}\n"
        "language = 'zh_CN'\nlocale_dirs = ['locales']\ngettext_compact = False\nnb_execution_mode = 'off'\n",
        encoding="utf-8")
    answer = "<details>\n<summary>The model answer: open it once you have written yours</summary>\n\nIt rises.\n\n</details>"
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3",
                "display_name": "Python 3", "language": "python"}}, "cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": f"# Task\n\n{answer}"}]}
    (source / "index.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    catalog = Catalog(locale="zh_CN")
    catalog.add("Task", "题目")
    catalog.add("The model answer: open it once you have written yours", "参考答案：写完自己的答案后再展开")
    catalog.add("It rises.", "它上升。")
    with open(source / "locales" / "zh_CN" / "LC_MESSAGES" / "index.po", "wb") as handle:
        write_po(handle, catalog)
    out = tmp_path / builder
    Sphinx(str(source), str(source), str(out), str(tmp_path / "doctrees"), builder, status=None,
           warning=None, freshenv=True).build()
    return out / ("index.html" if builder == "html" else "index.pot")


def test_a_collapsed_blocks_label_is_extracted_and_translated(tmp_path):
    """book/_ext/details_summaries.py: a <summary> label is raw HTML, which Sphinx neither extracts nor translates;
    without the extension the Chinese page shows "The model answer" above a Chinese answer."""
    page = _details_book(tmp_path / "with", ["myst_nb", "details_summaries"]).read_text(encoding="utf-8")
    assert "<details>\n<summary>参考答案：写完自己的答案后再展开</summary>" in page and "它上升。" in page
    template = _details_book(tmp_path / "pot", ["myst_nb", "details_summaries"], "gettext").read_text(encoding="utf-8")
    assert 'msgid "The model answer: open it once you have written yours"' in template
    without = _details_book(tmp_path / "without", ["myst_nb"]).read_text(encoding="utf-8")
    assert "<summary>The model answer: open it once you have written yours</summary>" in without and "它上升。" in without
