"""The built book as a reader sees it: every page in headless Chromium (`make browser`, part of `make test`).

Checks both editions, English (``html``) and Chinese (``html-zh``, built beside it from the same sources): that
every page of the table of contents renders with its title (a Chinese one in the Chinese edition), that every
image on it loads, that the Colab launch button of each notebook points at that notebook on GitHub, that every
formula is typeset and every mermaid diagram drawn from the book's own copies of MathJax and mermaid (no network
here: a CDN would leave raw TeX), that Chinese is drawn with real glyphs (not the empty boxes of a missing font),
and that each page's language switch opens the same page in the other edition. Screenshots are kept in
``_build/screenshots/`` for review. Skipped, with the reason shown, where Chromium or the built HTML is missing;
``.ci/run`` installs Chromium and a CJK font first, so CI always runs it.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml
from playwright import (
    sync_api as playwright,  # pinned in the dev extra: a missing one is an error, not a skip
)

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("XLM_BOOK_HTML", ROOT / "_build" / "check" / "_build" / "html"))
# The Chinese edition lies beside the English one (`make book` and `make check-book` link it there), and the
# server serves their common folder, so that the language switch's relative links work as they do on disk.
EDITIONS = ["html", "html-zh"]  # `make check-book` builds both: a missing Chinese edition fails, it is not skipped
CJK = re.compile(r"[\u4e00-\u9fff]")
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a sandboxed machine without network: no background connections, no sandbox (root in CI)
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM:
    pytest.skip("no Chromium on this machine: install Debian's `chromium` (as .ci/run does) to test the rendered "
                "book", allow_module_level=True)
if not (HTML / "index.html").exists():
    pytest.skip(f"no built book at {HTML}: run `make check-book` first", allow_module_level=True)


def test_both_editions_are_built():
    missing = [edition for edition in EDITIONS if not (HTML.parent / edition / "index.html").exists()]
    assert not missing, f"{missing} not built beside {HTML}: `make check-book` builds and links both editions"


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))
            walk(entry.get("chapters", []))

    walk(toc.get("parts", []))
    return files


PAGES = _toc_files()
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


@pytest.fixture(scope="module")
def site():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def page():
    with playwright.sync_playwright() as engine:
        browser = engine.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        yield tab
        browser.close()


def test_the_table_of_contents_is_complete():
    assert len(PAGES) >= 30 and "book/glossary" in PAGES and "chapters/09_faq/01_faq" in PAGES


def test_the_chinese_edition_is_built_beside_the_english_one():
    assert EDITIONS == ["html", "html-zh"], f"no Chinese edition next to {HTML}: run `make check-book`"


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_with_its_title_and_images(site, page, edition, name):
    response = page.goto(f"{site}/{edition}/{name}.html")
    assert response is not None and response.ok, f"{name}: HTTP {response.status if response else 'none'}"
    page.wait_for_load_state("load")
    title = page.locator("main h1").first
    assert title.count() == 1 and title.inner_text().strip(), f"{name}: no title"
    if edition == "html-zh":
        assert CJK.search(title.inner_text()), f"{name}: the Chinese edition's title is not Chinese: {title.inner_text()}"
        assert page.title().endswith("跨语言 Transformer 实战"), page.title()
    broken = page.evaluate("""() => [...document.images]
        .filter(img => !img.complete || img.naturalWidth === 0).map(img => img.getAttribute('src'))""")
    assert not broken, f"{name}: images that did not load: {broken}"


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("name", [name for name in PAGES if (ROOT / f"{name}.ipynb").exists()])
def test_launch_buttons_open_the_notebook_in_colab(site, page, edition, name):
    """Both editions launch the same notebook: there is one set of notebooks, whose text the book translates."""
    page.goto(f"{site}/{edition}/{name}.html")
    links = page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.href)")
    repository = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    expected = f"https://colab.research.google.com/github/{repository}/blob/main/{name}.ipynb"
    assert expected in links, f"{name}: no Colab link to {expected}"


# Text a reader would see as raw TeX: a delimiter outside code and outside what MathJax typeset. Catches formulas
# MathJax never saw (no MathJax, or a CDN offline) and formulas Markdown broke apart (a line starting with `+`
# inside $...$ becomes a list item, leaving two lone dollars).
RAW_TEX = r"""() => {
    const skip = 'pre, code, script, style, textarea, mjx-container, mjx-assistive-mml, .highlight, .cell_output';
    const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
    const raw = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.parentElement.closest(skip)) continue;
        const text = node.textContent;
        if (/\$|\\[()\[\]]|\\(frac|mathcal|mathrm|sum|lambda)\b/.test(text)) raw.push(text.trim().slice(0, 80));
    }
    return raw;
}"""
MATHJAX_DONE = "() => window.MathJax && MathJax.startup && MathJax.startup.promise ? MathJax.startup.promise.then(() => true) : null"


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("name", PAGES)
def test_every_formula_is_typeset(site, page, edition, name):
    page.goto(f"{site}/{edition}/{name}.html")
    page.wait_for_load_state("load")
    formulas = page.locator("main .math").count()
    if formulas:
        page.wait_for_function(MATHJAX_DONE, timeout=20_000)
        page.evaluate(MATHJAX_DONE)
        untypeset = page.evaluate("""() => [...document.querySelectorAll('main .math')]
            .filter(element => !element.querySelector('mjx-container')).map(element => element.textContent.slice(0, 60))""")
        assert not untypeset, f"{name}: {len(untypeset)} of {formulas} formulas not typeset by MathJax: {untypeset[:3]}"
        errors = page.locator("main mjx-merror").count()
        assert errors == 0, f"{name}: MathJax reports {errors} TeX errors"
    raw = page.evaluate(RAW_TEX)
    assert not raw, f"{name}: raw TeX in the text (a formula Markdown broke apart, or MathJax never ran): {raw[:3]}"


DIAGRAM_PAGES = [name for name in PAGES if (ROOT / f"{name}.md").exists()
                 and "```{mermaid}" in (ROOT / f"{name}.md").read_text()]


def test_some_pages_have_diagrams():
    assert len(DIAGRAM_PAGES) >= 2, DIAGRAM_PAGES


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("name", DIAGRAM_PAGES)
def test_mermaid_diagrams_are_drawn_as_svg(site, page, edition, name):
    page.goto(f"{site}/{edition}/{name}.html")
    diagrams = page.locator("main .mermaid")
    assert diagrams.count() >= 1, f"{name}: no mermaid element"
    page.wait_for_function("""() => [...document.querySelectorAll('main .mermaid')]
        .every(element => element.querySelector('svg g'))""", timeout=20_000)
    sizes = page.evaluate("""() => [...document.querySelectorAll('main .mermaid svg')]
        .map(svg => svg.getBoundingClientRect()).map(box => [box.width, box.height])""")
    assert all(width > 100 and height > 50 for width, height in sizes), f"{name}: diagrams drawn too small: {sizes}"


def test_the_book_loads_nothing_from_other_hosts(site, page):
    hosts = set()

    def record(request):
        hosts.add(request.url.split("/")[2])

    page.on("request", record)
    for name in [*DIAGRAM_PAGES, "chapters/04_math/01_objectives_derived"]:
        page.goto(f"{site}/html/{name}.html")
        try:
            page.wait_for_load_state("networkidle", timeout=60_000)
        except playwright.TimeoutError:
            # A request still open after a minute (on a busy machine, 30 s once were not enough)
            # was recorded when it started, so its host is in `hosts` all the same.
            pass
    page.remove_listener("request", record)
    assert hosts == {site.split("/")[2]}, f"requests to other hosts: {sorted(hosts - {site.split('/')[2]})}"


@pytest.mark.parametrize("edition, name, words", [("html", "book/glossary", ["多模态融合", "跨语言"]),
                                                   ("html-zh", "chapters/04_math/01_objectives_derived", ["交叉熵", "梯度"])])
def test_chinese_is_drawn_with_real_glyphs(site, page, edition, name, words):
    page.goto(f"{site}/{edition}/{name}.html")
    text = page.locator("main").inner_text()
    assert all(word in text for word in words)
    # Draw Chinese characters and two code points no font has, in the page's own font: with no CJK font the
    # characters come out as the same empty box as the unassigned code points.
    drawn = page.evaluate("""() => {
        const font = getComputedStyle(document.querySelector('main')).fontFamily;
        const draw = text => {
            const canvas = document.createElement('canvas');
            canvas.width = 64; canvas.height = 64;
            const context = canvas.getContext('2d');
            context.font = `40px ${font}`;
            context.fillText(text, 4, 48);
            return Array.from(context.getImageData(0, 0, 64, 64).data).join(',');
        };
        return {chinese: [draw('多'), draw('语')], missing: [draw('\\u{E0080}'), draw('\\u{E0081}')]};
    }""")
    assert drawn["missing"][0] == drawn["missing"][1], "the unassigned code points should draw alike"
    assert drawn["chinese"][0] != drawn["chinese"][1], (
        "Chinese characters are drawn as identical boxes: no CJK font is installed (Debian: fonts-noto-cjk)")
    assert drawn["chinese"][0] != drawn["missing"][0]


def test_the_chinese_edition_navigates_in_chinese(site, page):
    page.goto(f"{site}/html-zh/book/intro.html")
    navigation = page.locator("nav.bd-links").inner_text()
    for caption in ("入门", "联合预训练", "部署与效率", "练习", "常见问题与解答"):
        assert caption in navigation, f"part caption {caption!r} missing from the Chinese navigation"
    assert page.locator("html").get_attribute("lang") == "zh-CN"


@pytest.mark.parametrize("edition", EDITIONS)
def test_the_collapsed_model_answers_are_labelled_in_the_pages_language(site, page, edition):
    """The labels of the <details> blocks that hide the model answers (book/_ext/details_summaries.py)."""
    page.goto(f"{site}/{edition}/exercises/student/04_math.html")
    labels = page.locator("main details > summary").all_inner_texts()
    assert len(labels) >= 4  # three model answers and the Summary
    assert all(bool(CJK.search(label)) == (edition == "html-zh") for label in labels), labels


@pytest.mark.parametrize("name", ["book/intro", "chapters/03_joint_pretraining/02_joint_pretraining"])
def test_the_language_switch_opens_the_same_page_in_the_other_edition(site, page, name):
    page.goto(f"{site}/html/{name}.html")
    english = page.locator("main h1").first.inner_text()
    page.locator("a.btn-language-switch-button").first.click()
    page.wait_for_load_state("load")
    assert page.url == f"{site}/html-zh/{name}.html", "the switch opens another tab or another page"
    chinese = page.locator("main h1").first.inner_text()
    assert CJK.search(chinese) and chinese != english
    page.locator("a.btn-language-switch-button").first.click()
    page.wait_for_load_state("load")
    assert page.url == f"{site}/html/{name}.html" and page.locator("main h1").first.inner_text() == english


@pytest.mark.parametrize("edition", EDITIONS)
def test_a_screenshot_is_kept_for_review(site, page, edition):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = "book/glossary" if edition == "html" else "chapters/03_joint_pretraining/02_joint_pretraining"
    page.goto(f"{site}/{edition}/{name}.html")
    target = SCREENSHOTS / f"{edition}-{name.split('/')[-1]}.png"
    page.screenshot(path=str(target), full_page=False)
    assert target.stat().st_size > 10_000
