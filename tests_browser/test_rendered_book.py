"""The built book as a reader sees it: every page in headless Chromium (`make browser`, part of `make test`).

Checks that every page of the table of contents renders with its title, that every image on it loads, that the
Colab launch button of each notebook points at that notebook on GitHub, that every formula is typeset and every
mermaid diagram drawn from the book's own copies of MathJax and mermaid (no network here: a CDN would leave raw
TeX), and that the glossary's Chinese is drawn with real glyphs (not the empty boxes of a missing font). A screenshot of one page is kept in
``_build/screenshots/`` for review. Skipped, with the reason shown, where Chromium or the built HTML is missing;
``.ci/run`` installs Chromium and a CJK font first, so CI always runs it.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("XLM_BOOK_HTML", ROOT / "_build" / "check" / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a sandboxed machine without network: no background connections, no sandbox (root in CI)
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
if not CHROMIUM:
    pytest.skip("no Chromium on this machine: install Debian's `chromium` (as .ci/run does) to test the rendered "
                "book", allow_module_level=True)
if not (HTML / "index.html").exists():
    pytest.skip(f"no built book at {HTML}: run `make check-book` first", allow_module_level=True)


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
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
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


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_with_its_title_and_images(site, page, name):
    response = page.goto(f"{site}/{name}.html")
    assert response is not None and response.ok, f"{name}: HTTP {response.status if response else 'none'}"
    page.wait_for_load_state("load")
    title = page.locator("main h1").first
    assert title.count() == 1 and title.inner_text().strip(), f"{name}: no title"
    broken = page.evaluate("""() => [...document.images]
        .filter(img => !img.complete || img.naturalWidth === 0).map(img => img.getAttribute('src'))""")
    assert not broken, f"{name}: images that did not load: {broken}"


@pytest.mark.parametrize("name", [name for name in PAGES if (ROOT / f"{name}.ipynb").exists()])
def test_launch_buttons_open_the_notebook_in_colab(site, page, name):
    page.goto(f"{site}/{name}.html")
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


@pytest.mark.parametrize("name", PAGES)
def test_every_formula_is_typeset(site, page, name):
    page.goto(f"{site}/{name}.html")
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


@pytest.mark.parametrize("name", DIAGRAM_PAGES)
def test_mermaid_diagrams_are_drawn_as_svg(site, page, name):
    page.goto(f"{site}/{name}.html")
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
        page.goto(f"{site}/{name}.html")
        page.wait_for_load_state("networkidle")
    page.remove_listener("request", record)
    assert hosts == {site.split("/")[2]}, f"requests to other hosts: {sorted(hosts - {site.split('/')[2]})}"


def test_the_glossary_draws_chinese_with_real_glyphs(site, page):
    page.goto(f"{site}/book/glossary.html")
    text = page.locator("main").inner_text()
    assert "多模态融合" in text and "跨语言" in text
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


def test_a_screenshot_is_kept_for_review(site, page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{site}/book/glossary.html")
    target = SCREENSHOTS / "glossary.png"
    page.screenshot(path=str(target), full_page=False)
    assert target.stat().st_size > 10_000
