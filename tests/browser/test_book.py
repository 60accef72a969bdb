"""The published book in a real browser: every page of _toc.yml, offline, in headless Chromium.

For each page: it loads; no JavaScript errors; no request fails or leaves 127.0.0.1 (MathJax and
the widget manager are served by the book itself); every formula is typeset by MathJax 3 and no
raw TeX is left; every image loads; every internal link and #anchor resolves; dropdowns (exercise
solutions, hidden code) open on a click; stored widgets render as live controls; the theme
switch turns the page dark; at a phone's width (390 px) the page does not scroll sideways
(_build/screenshots/phone/ holds a screenshot at that width). Chapter pages also need solution
dropdowns, Colab and Binder buttons that open their own notebook, and a search page that finds
them. A full-page screenshot of each page goes to _build/screenshots/.
"""

from __future__ import annotations

import json
from pathlib import Path

import browser_checks as checks
import pytest

from conftest import ROOT, SCREENSHOTS

PAGES = checks.toc_docnames(ROOT)
CHAPTERS = [d for d in PAGES if checks.is_chapter(ROOT, d)]


def _report(docname: str, found: dict[str, list[str]]) -> str:
    lines = [f"{docname}: browser checks failed"]
    for check, problems in found.items():
        for p in problems:
            lines.append(f"  [{check}] {p}")
    return "\n".join(lines)


@pytest.mark.parametrize("docname", PAGES)
def test_page(docname: str, browser, book_url: str, link_cache) -> None:
    chapter = checks.is_chapter(ROOT, docname)
    with checks.open_page(browser, f"{book_url}{docname}.html") as visit:
        found = {"load": checks.check_loaded(visit)}
        if not found["load"]:
            found["math"] = checks.check_math(visit)
            found["images"] = checks.check_images(visit)
            found["widgets"] = checks.check_widgets(visit)
            checks.screenshot(visit, SCREENSHOTS / f"{docname.replace('/', '__')}.png")
            found["links"] = checks.check_links(visit, link_cache)
            found["dropdowns"] = checks.check_dropdowns(visit, min_solutions=1 if chapter else 0)
            if chapter:
                found["launch"] = checks.check_launch_links(visit, checks.expected_launch(ROOT, docname))
            found["phone width"] = checks.check_phone_width(
                visit, screenshot_to=SCREENSHOTS / "phone" / f"{docname.replace('/', '__')}.png")
            found["dark mode"] = checks.check_dark_mode(visit)
        found["console"] = checks.check_console(visit)
        found["requests"] = checks.check_requests(visit)
    found = {k: v for k, v in found.items() if v}
    assert not found, _report(docname, found)


@pytest.mark.parametrize("docname", CHAPTERS)
def test_launch_buttons_open_a_notebook_that_exists(docname: str) -> None:
    notebook = checks.expected_launch(ROOT, docname).notebook
    assert (ROOT / notebook).is_file(), f"the launch buttons would open {notebook}, which is not in the repository"


@pytest.mark.parametrize("docname", CHAPTERS)
def test_search_finds_the_chapter(docname: str, browser, book_html: Path, book_url: str) -> None:
    word = checks.title_word((book_html / f"{docname}.html").read_text("utf-8"))
    problems = checks.check_search(browser, book_url, word, docname)
    assert not problems, _report(f"search for {word!r}", {"search": problems})


def test_offline_assets_are_local(book_html: Path) -> None:
    """MathJax, RequireJS and the widget manager were installed, not replaced by CDN shims."""
    from tools import offline_assets

    manifest = json.loads((book_html / "_static" / "vendor" / "MANIFEST.json").read_text())
    fallbacks = offline_assets.cdn_fallbacks(manifest)
    assert not fallbacks, (
        f"{fallbacks} come from the CDN in this build (npm was unavailable when "
        "tools/offline_assets.py ran): the book needs the network for math and widgets"
    )


def test_widgets_are_checked_somewhere(book_html: Path) -> None:
    """Say which pages hold widget state, so a silent loss of all widgets is noticed."""
    with_state = [d for d in PAGES if checks.WIDGET_STATE in (book_html / f"{d}.html").read_text("utf-8")]
    stored = [
        d for d in CHAPTERS
        if json.loads(checks.source_of(ROOT, d).read_text("utf-8"))
        .get("metadata", {}).get("widgets", {}).get(checks.WIDGET_STATE, {}).get("state")
    ]
    assert sorted(with_state) == sorted(stored), (
        f"notebooks with stored widget state {stored} but pages with widget state {with_state}"
    )
