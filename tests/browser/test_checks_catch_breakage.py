"""Each browser check fails on the breakage it is meant to catch, and passes on a sound page.

The fixture book (tests/browser/fixture_book) is built once per session. Its pages: ``intro``
(sound: math, an image, links with anchors, an exercise with a solution dropdown),
``chapters/01_widgets`` (sound: a notebook with a stored IntSlider), and ``broken/*``: a missing
image, links to a missing page and a missing anchor, raw TeX and an undefined macro, a script that
throws, one fetched from a CDN, and a block wider than a phone. Breakage the pages cannot carry
(MathJax, the widget manager, togglebutton or the theme's script missing from the build) is
simulated by blocking that file.
"""

from __future__ import annotations

from pathlib import Path

import browser_checks as checks
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixture_book"


def _all_checks(visit: checks.Visit, cache: checks.LinkCache, docname: str) -> dict[str, list[str]]:
    chapter = checks.is_chapter(FIXTURE, docname)
    found = {
        "load": checks.check_loaded(visit),
        "math": checks.check_math(visit),
        "images": checks.check_images(visit),
        "widgets": checks.check_widgets(visit),
        "links": checks.check_links(visit, cache),
        "dropdowns": checks.check_dropdowns(visit, min_solutions=1),
        "phone width": checks.check_phone_width(visit),
        "dark mode": checks.check_dark_mode(visit),
    }
    if chapter:
        found["launch"] = checks.check_launch_links(visit, checks.expected_launch(FIXTURE, docname))
    found["console"] = checks.check_console(visit)
    found["requests"] = checks.check_requests(visit)
    return {k: v for k, v in found.items() if v}


@pytest.mark.parametrize("docname", ["intro", "chapters/01_widgets"])
def test_sound_pages_pass_every_check(docname, browser, fixture_url, link_cache):
    with checks.open_page(browser, f"{fixture_url}{docname}.html") as visit:
        assert _all_checks(visit, link_cache, docname) == {}


def test_the_sound_widget_page_really_has_a_widget(browser, fixture_url):
    with checks.open_page(browser, f"{fixture_url}chapters/01_widgets.html") as visit:
        assert checks.page_has_widget_state(visit)
        assert checks.check_widgets(visit) == []
        slider = visit.page.locator(".widget-subarea [role=slider]")
        assert slider.count() == 1
        assert slider.get_attribute("aria-valuenow") == "4.0"  # stored 3, moved by the check


def test_missing_image_is_caught(browser, fixture_url):
    with checks.open_page(browser, f"{fixture_url}broken/image.html") as visit:
        images = checks.check_images(visit)
        requests = checks.check_requests(visit)
    assert any("no-such-figure.png" in p for p in images), images
    assert any("HTTP 404" in p and "no-such-figure.png" in p for p in requests), requests


def test_unresolved_links_are_caught(browser, fixture_url, link_cache):
    with checks.open_page(browser, f"{fixture_url}broken/link.html") as visit:
        problems = checks.check_links(visit, link_cache)
    assert any("no-such-page.html" in p and "HTTP 404" in p for p in problems), problems
    assert any("no-such-section" in p and "no element with id" in p for p in problems), problems
    assert len(problems) == 2, problems  # the sound links of the page (sidebar...) pass


def test_raw_tex_and_math_errors_are_caught(browser, fixture_url):
    with checks.open_page(browser, f"{fixture_url}broken/math.html") as visit:
        problems = checks.check_math(visit)
    assert any("raw TeX" in p and "$x$" in p for p in problems), problems
    assert any("MathJax error" in p and "notamacro" in p for p in problems), problems


def test_math_without_mathjax_is_caught(browser, fixture_url):
    with checks.open_page(browser, f"{fixture_url}intro.html", block=[r"/vendor/mathjax/"]) as visit:
        problems = checks.check_math(visit)
    assert any("MathJax is not ready" in p for p in problems), problems
    assert any("formulas not typeset" in p for p in problems), problems


def test_script_error_and_network_use_are_caught(browser, fixture_url):
    with checks.open_page(browser, f"{fixture_url}broken/script.html") as visit:
        console = checks.check_console(visit)
        requests = checks.check_requests(visit)
    assert any("embedlabFixtureUndefinedFunction" in p for p in console), console
    assert any("cdn.jsdelivr.net" in p and "offline" in p for p in requests), requests


def test_known_upstream_errors_are_pinned_to_versions():
    """The forgiven console errors stop being forgiven when their package changes version."""
    known = checks.KNOWN_UPSTREAM_ERRORS[0]
    message = "uncaught: Identifier 'THEBE_JS_URL' has already been declared"
    assert known.applies(message)
    moved = checks.KnownError(known.pattern, known.package, "0.0.0", known.why)
    assert checks.check_console(_FakeVisit([message]), known=[moved]) == [f"console error: {message}"]


class _FakeVisit:
    def __init__(self, errors: list[str]) -> None:
        self.console_errors = errors


def test_dropdowns_without_togglebutton_are_caught(browser, fixture_url):
    with checks.open_page(browser, f"{fixture_url}intro.html", block=[r"/togglebutton\.js"]) as visit:
        problems = checks.check_dropdowns(visit, min_solutions=1)
    assert any("is not a dropdown" in p for p in problems), problems


def test_widgets_without_the_manager_are_caught(browser, fixture_url):
    url = f"{fixture_url}chapters/01_widgets.html"
    with checks.open_page(browser, url, block=[r"/html-manager/dist/embed-amd\.js"]) as visit:
        problems = checks.check_widgets(visit, timeout_ms=3_000)
    assert any("was not rendered" in p for p in problems), problems


def test_dark_mode_without_the_theme_script_is_caught(browser, fixture_url):
    url = f"{fixture_url}intro.html"
    with checks.open_page(browser, url, block=[r"/scripts/pydata-sphinx-theme\.js"]) as visit:
        problems = checks.check_dark_mode(visit, timeout_ms=3_000)  # the switch never acts: a short wait
    assert problems and "dark" in problems[0], problems


def test_wrong_launch_links_are_caught(browser, fixture_url):
    wrong = checks.expected_launch(FIXTURE, "chapters/02_other")
    with checks.open_page(browser, f"{fixture_url}chapters/01_widgets.html") as visit:
        problems = checks.check_launch_links(visit, wrong)
    assert len(problems) == 2 and all("02_other.ipynb" in p for p in problems), problems


def test_search_finds_a_word_and_misses_an_absent_one(browser, fixture_url):
    assert checks.check_search(browser, fixture_url, "zanzibarite", "intro") == []
    problems = checks.check_search(browser, fixture_url, "qxjzvwnotaword", "intro")
    assert problems == ["searching for 'qxjzvwnotaword' found nothing"], problems


def test_fixture_uses_the_books_offline_settings():
    """The fixture book loads MathJax and the widget manager exactly as the real book does."""
    keys = ("mathjax_path", "nb_ipywidgets_js")
    real = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    fixture = yaml.safe_load((FIXTURE / "_config.yml").read_text())["sphinx"]["config"]
    assert {k: fixture[k] for k in keys} == {k: real[k] for k in keys}
    assert [(FIXTURE / p).resolve() for p in fixture["html_static_path"]] == [
        (ROOT / p).resolve() for p in real["html_static_path"]
    ]


def test_a_page_wider_than_a_phone_is_caught(browser, fixture_url):
    with checks.open_page(browser, f"{fixture_url}broken/wide.html") as visit:
        problems = checks.check_phone_width(visit)
        assert visit.page.viewport_size == {"width": 1280, "height": 900}  # put back for the other checks
    assert len(problems) == 1 and "scrolls sideways" in problems[0] and "div.too-wide" in problems[0], problems


def test_wide_tables_and_equations_scroll_in_their_own_box(browser, fixture_url):
    """The book's CSS keeps a wide table and a long display equation inside a 390 px page."""
    with checks.open_page(browser, f"{fixture_url}intro.html") as visit:
        assert visit.page.locator("table").count() and visit.page.locator("div.math").count()
        assert checks.check_phone_width(visit) == []
