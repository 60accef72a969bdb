"""Checks of a built page, run in headless Chromium through Playwright's sync API.

Each ``check_*`` function returns a list of problems (empty when the page is fine), so one test
can report everything wrong with a page at once. The same functions run on the real book
(``test_book.py``) and on the deliberately broken fixture book (``test_checks_catch_breakage.py``),
which shows that each of them fails on the breakage it is meant to catch.
"""

from __future__ import annotations

import importlib.metadata
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import yaml
from playwright.sync_api import Browser, BrowserContext, Page, Route
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MATHJAX_TIMEOUT_MS = 60_000  # limits, never verdicts: generous for a busy machine
WIDGET_TIMEOUT_MS = 60_000


# --------------------------------------------------------------------------------------------
# The book's structure: pages from _toc.yml, repository settings from _config.yml
# --------------------------------------------------------------------------------------------


def toc_docnames(book_root: Path) -> list[str]:
    """Every page of ``_toc.yml`` in reading order (root first), as Sphinx docnames."""
    toc = yaml.safe_load((book_root / "_toc.yml").read_text(encoding="utf-8"))
    names: list[str] = []

    def add(entry: str) -> None:
        names.append(re.sub(r"\.(md|ipynb|rst)$", "", entry))

    def walk(node: object) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            if "file" in node:
                add(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key) or [])

    add(str(toc["root"]))
    walk(toc)
    return names


def source_of(book_root: Path, docname: str) -> Path:
    for ext in (".ipynb", ".md", ".rst"):
        path = book_root / f"{docname}{ext}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"_toc.yml lists {docname}, which has no source file")


def is_chapter(book_root: Path, docname: str) -> bool:
    """Chapter pages are the notebooks under chapters/: they get launch buttons and exercises."""
    return docname.startswith("chapters/") and source_of(book_root, docname).suffix == ".ipynb"


@dataclass(frozen=True)
class Launch:
    """Where the launch buttons of a notebook page should point."""

    colab: str
    binder: str
    notebook: str  # path of the notebook inside the repository


def expected_launch(book_root: Path, docname: str) -> Launch:
    config = yaml.safe_load((book_root / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]
    owner_repo = urlsplit(repo["url"]).path.strip("/")
    branch = repo.get("branch", "main")
    prefix = (repo.get("path_to_book") or "").strip("/")
    notebook = f"{prefix}/{docname}.ipynb" if prefix else f"{docname}.ipynb"
    buttons = config.get("launch_buttons", {})
    colab = buttons.get("colab_url", "https://colab.research.google.com").rstrip("/")
    binder = buttons.get("binderhub_url", "https://mybinder.org").rstrip("/")
    return Launch(
        colab=f"{colab}/github/{owner_repo}/blob/{branch}/{notebook}",
        binder=f"{binder}/v2/gh/{owner_repo}/{branch}?urlpath=lab/tree/{notebook}",
        notebook=notebook,
    )


# --------------------------------------------------------------------------------------------
# Opening a page: one fresh browser context per page, the network limited to the local server
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownError:
    """A console error that comes from the pinned theme stack itself, not from the book.

    It is forgiven only while ``package`` is at ``version``: after an upgrade the entry stops
    applying, so the error is reported again and someone decides whether it is still harmless.
    """

    pattern: str
    package: str
    version: str
    why: str

    def applies(self, message: str) -> bool:
        try:
            installed = importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return False
        return installed == self.version and re.search(self.pattern, message) is not None


KNOWN_UPSTREAM_ERRORS = (
    KnownError(
        pattern=r"Identifier 'THEBE_JS_URL' has already been declared",
        package="sphinx-thebe",
        version="0.3.1",
        why="sphinx-thebe registers its inline `const THEBE_JS_URL` script twice under Sphinx 7.4; "
        "only the unused Thebe button would need it (launch_buttons has no thebe).",
    ),
    KnownError(
        pattern=r"^Got invalid theme mode: \. Resetting to auto\.$",
        package="pydata-sphinx-theme",
        version="0.17.1",
        why="sphinx-book-theme leaves data-default-mode empty, so on a first visit (no stored mode) "
        "the pydata theme logs this and uses 'auto', which is what we want.",
    ),
)


@dataclass
class Visit:
    """A page opened in its own browser context, with what it logged and requested."""

    context: BrowserContext
    page: Page
    url: str
    status: int | None = None
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> Visit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_page(browser: Browser, url: str, block: Iterable[str] = ()) -> Visit:
    """Open ``url`` in a fresh context (own storage: light mode, nothing remembered).

    Requests to any host other than the local server are recorded and aborted: the book must
    render with no network. ``block`` lists URL regexes to abort as well, to simulate a broken
    build in the fixture tests.
    """
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    blocked = [re.compile(p) for p in block]
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme="light", service_workers="block"
    )
    page = context.new_page()
    visit = Visit(context=context, page=page, url=url)
    aborted: set[str] = set()

    def route(r: Route) -> None:
        req_url = r.request.url
        if req_url.startswith("data:") or req_url.startswith("blob:"):
            r.continue_()
        elif not req_url.startswith(origin + "/"):
            visit.external_requests.append(req_url)
            aborted.add(req_url)
            r.abort()
        elif any(p.search(req_url) for p in blocked):
            aborted.add(req_url)
            r.abort()
        else:
            r.continue_()

    def failed(request) -> None:  # local requests that died without an HTTP status
        if request.url not in aborted:
            visit.failed_requests.append(f"{request.failure} {request.url}")

    context.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and visit.console_errors.append(m.text))
    page.on("pageerror", lambda e: visit.console_errors.append(f"uncaught: {e}"))
    page.on("requestfailed", failed)
    page.on(
        "response",
        lambda r: r.status >= 400 and visit.failed_requests.append(f"HTTP {r.status} {r.url}"),
    )
    try:
        response = page.goto(url, wait_until="load", timeout=60_000)
        visit.status = response.status if response else None
    except PlaywrightError as exc:
        visit.console_errors.append(f"could not load {url}: {exc}")
    return visit


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


def check_loaded(visit: Visit) -> list[str]:
    """The page answered 200 and has a title."""
    problems = []
    if visit.status != 200:
        problems.append(f"{visit.url} answered HTTP {visit.status}")
        return problems
    title = visit.page.evaluate("() => (document.querySelector('main h1') || {}).textContent || ''")
    if not title.strip():
        problems.append("the page has no <h1> title in <main>")
    return problems


def check_console(visit: Visit, known: Iterable[KnownError] = KNOWN_UPSTREAM_ERRORS) -> list[str]:
    """JavaScript errors and uncaught exceptions, less the documented upstream ones."""
    known = tuple(known)
    return [
        f"console error: {m}" for m in visit.console_errors if not any(k.applies(m) for k in known)
    ]


def check_requests(visit: Visit) -> list[str]:
    """Failed local requests (404s...) and any attempt to use the network."""
    problems = [f"failed request: {r}" for r in visit.failed_requests]
    problems += [
        f"tried to load {u} from the network (the book must read offline)"
        for u in visit.external_requests
    ]
    return problems


_MATH_JS = r"""
async (timeoutMs) => {
  const mj = window.MathJax;
  let state = 'absent';
  if (mj && mj.startup && mj.startup.promise) {
    const timeout = new Promise(resolve => setTimeout(() => resolve('timeout'), timeoutMs));
    state = await Promise.race([mj.startup.promise.then(() => 'ready', () => 'failed'), timeout]);
  } else if (mj) {
    state = 'config only (MathJax itself did not load)';
  }
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(el => !el.querySelector('mjx-container'))
                        .map(el => el.textContent.trim().slice(0, 80));
  // TeX errors: <merror> (MathJax's error box), and undefined macros, which MathJax 3's
  // noundefined extension shows as red text rather than as an error.
  const errors = [...document.querySelectorAll('mjx-merror')]
      .map(el => el.getAttribute('data-mjx-error') || el.textContent.slice(0, 80));
  if (state === 'ready' && mj.startup.document && mj.startup.toMML) {
    for (const item of mj.startup.document.math) {
      const mml = mj.startup.toMML(item.root);
      const undef = mml.match(/<mtext mathcolor="red">(\\[A-Za-z]+)<\/mtext>/);
      if (undef) errors.push(`undefined macro ${undef[1]} in ${item.math.trim().slice(0, 80)}`);
    }
  }
  const skip = 'PRE, CODE, SCRIPT, STYLE, TEXTAREA, KBD, SAMP, MJX-CONTAINER, .highlight';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const parent = n.parentElement;
    if (parent && !parent.closest(skip) && n.textContent.trim()) texts.push(n.textContent);
  }
  return {state, count: math.length, typeset: document.querySelectorAll('mjx-container').length,
          untypeset, errors, texts};
}
"""

# TeX left in the text: \( \) \[ \] $$ \begin{..}, or $...$ around something TeX-like ($x$,
# $\alpha$, $x^2$) but not prices ("$5 and $10").
_RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{")
_DOLLARS = re.compile(r"(?<![\w$\\])\$(?=\S)([^$\n]{1,120}?)(?<=\S)\$(?![\w$])")


def _looks_like_tex(inner: str) -> bool:
    return bool(re.search(r"[\\^_{}=]", inner) or re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,2}", inner))


def check_math(visit: Visit) -> list[str]:
    """Every formula typeset by MathJax 3, no MathJax error, no raw TeX left in the prose."""
    info = visit.page.evaluate(_MATH_JS, MATHJAX_TIMEOUT_MS)
    problems = []
    if info["count"] and info["state"] != "ready":
        problems.append(f"MathJax is not ready ({info['state']}) on a page with {info['count']} formulas")
    if info["untypeset"]:
        problems.append(
            f"{len(info['untypeset'])} of {info['count']} formulas not typeset, e.g. {info['untypeset'][:3]}"
        )
    problems += [f"MathJax error: {e}" for e in info["errors"]]
    raw: list[str] = []
    for text in info["texts"]:
        raw += [m.group(0) for m in _RAW_TEX.finditer(text)]
        raw += [m.group(0) for m in _DOLLARS.finditer(text) if _looks_like_tex(m.group(1))]
    if raw:
        problems.append(f"raw TeX in the text (not typeset): {sorted(set(raw))[:5]}")
    return problems


_IMAGES_JS = """
async () => {
  const imgs = [...document.images];
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(resolve => {
    img.loading = 'eager';
    img.addEventListener('load', resolve); img.addEventListener('error', resolve);
    setTimeout(resolve, 15000);
  })));
  return imgs.filter(img => !(img.complete && img.naturalWidth > 0))
             .map(img => img.getAttribute('src'));
}
"""


def check_images(visit: Visit) -> list[str]:
    """Every <img> loaded (complete, naturalWidth > 0)."""
    return [f"image did not load: {src}" for src in visit.page.evaluate(_IMAGES_JS)]


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)


class LinkCache:
    """HTTP status and element ids of local pages, fetched once per test session."""

    def __init__(self) -> None:
        self._pages: dict[str, tuple[int, set[str]]] = {}

    def get(self, url: str) -> tuple[int, set[str]]:
        if url not in self._pages:
            try:
                with urllib.request.urlopen(url, timeout=60) as resp:
                    status, body = resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, b""
            parser = _Ids()
            ctype = "html" if url.endswith((".html", "/")) else ""
            if status == 200 and ctype:
                parser.feed(body.decode("utf-8", errors="replace"))
            self._pages[url] = (status, parser.ids)
        return self._pages[url]


def check_links(visit: Visit, cache: LinkCache) -> list[str]:
    """Every link to the local site answers 200, and its #anchor exists on the target page."""
    page_url = urldefrag(visit.page.url).url
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page_url))
    links = visit.page.evaluate(
        "() => [...document.querySelectorAll('a[href]')].map(a => [a.getAttribute('href'), a.href])"
    )
    own_ids = set(visit.page.evaluate("() => [...document.querySelectorAll('[id],[name]')]"
                                      ".map(e => e.id || e.getAttribute('name'))"))
    problems = []
    for raw, absolute in links:
        if not absolute.startswith(origin + "/"):
            continue  # external (checked elsewhere for the launch buttons), mailto:, javascript:
        target, fragment = urldefrag(absolute)
        target = target.split("?")[0]
        fragment = unquote(fragment)
        if target == page_url:
            status, ids = 200, own_ids
        else:
            status, ids = cache.get(target)
        if status != 200:
            problems.append(f"link {raw!r} -> HTTP {status}")
        elif fragment and fragment not in ids:
            problems.append(f"link {raw!r}: no element with id {fragment!r} on the target page")
    return sorted(set(problems))


_DROPDOWNS_JS = """
() => {
  const visible = el => !!el && el.getClientRects().length > 0
                        && getComputedStyle(el).visibility !== 'hidden';
  const body = el => [...el.children].filter(c => !c.matches('.admonition-title, summary'));
  return {
    toggles: [...document.querySelectorAll('.toggle')].map((el, i) => ({
      i, id: el.id, hidden: body(el).every(c => !visible(c))})),
    details: [...document.querySelectorAll('details')].map((el, i) => ({i, open: el.open})),
    solutions: document.querySelectorAll('.solution').length,
    solutionsNotDropdown: [...document.querySelectorAll('.solution')]
        .filter(el => !el.matches('.toggle') && !el.closest('details')).map(el => el.id),
  };
}
"""

_TOGGLE_OPEN_JS = """
i => [...document.querySelectorAll('.toggle')[i].children]
       .filter(c => !c.matches('.admonition-title, summary'))
       .some(c => c.getClientRects().length > 0 && getComputedStyle(c).visibility !== 'hidden')
"""


def check_dropdowns(visit: Visit, min_solutions: int = 0) -> list[str]:
    """Solution dropdowns (sphinx-togglebutton) and <details> start closed and open on a click."""
    page = visit.page
    info = page.evaluate(_DROPDOWNS_JS)
    problems = []
    if info["solutions"] < min_solutions:
        problems.append(f"expected at least {min_solutions} solution dropdown(s), found {info['solutions']}")
    for sid in info["solutionsNotDropdown"]:
        problems.append(f"solution {sid!r} is not a dropdown (no toggle: is togglebutton.js loaded?)")
    for t in info["toggles"]:
        if not t["hidden"]:
            problems.append(f"dropdown {t['id']!r} is open before any click")
            continue
        toggle = page.locator(".toggle").nth(t["i"])
        button = toggle.locator(".toggle-button")
        try:
            (button if button.count() else toggle.locator(".admonition-title")).first.click(timeout=60_000)
            page.wait_for_function(_TOGGLE_OPEN_JS, arg=t["i"], timeout=60_000)
        except PlaywrightTimeout:
            problems.append(f"dropdown {t['id']!r} does not open when clicked")
    for d in info["details"]:
        if d["open"]:
            continue
        details = page.locator("details").nth(d["i"])
        try:
            details.locator("summary").first.click(timeout=60_000)
            page.wait_for_function(
                "i => document.querySelectorAll('details')[i].open", arg=d["i"], timeout=60_000
            )
        except PlaywrightTimeout:
            problems.append(f"<details> #{d['i']} does not open when its summary is clicked")
    return problems


def check_launch_links(visit: Visit, expected: Launch) -> list[str]:
    """The Colab and Binder buttons of a chapter open this chapter's notebook."""
    hrefs = visit.page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
    problems = []
    for name, want in (("Colab", expected.colab), ("Binder", expected.binder)):
        host = urlsplit(want).netloc
        found = [h for h in hrefs if urlsplit(h).netloc == host]
        if not found:
            problems.append(f"no {name} launch link (expected {want})")
        elif want not in found:
            problems.append(f"{name} launch link is {found[0]}, expected {want}")
    return problems


_WIDGETS_JS = """
() => {
  const views = [...document.querySelectorAll('script[type="%s"]')];
  return views.map(v => {
    const area = v.previousElementSibling;
    const rendered = !!area && area.classList.contains('widget-subarea')
                     && !!area.querySelector('.jupyter-widgets');
    return {rendered,
            error: !!area && !!area.querySelector('.jupyter-widgets.widget-error, .widget-error'),
            size: area ? area.getBoundingClientRect().width * area.getBoundingClientRect().height : 0,
            controls: area ? area.querySelectorAll(
                'input, select, textarea, button, [role=slider], [contenteditable=true]').length : 0};
  });
}
""" % WIDGET_VIEW


def page_has_widget_state(visit: Visit) -> bool:
    return visit.page.locator(f'script[type="{WIDGET_STATE}"]').count() > 0


# Widget models that only display something (progress bars from tqdm, labels, layout boxes,
# output areas). A page whose stored widgets are all of these has nothing for a reader to use.
DISPLAY_ONLY_MODELS = {
    "FloatProgressModel", "IntProgressModel", "HTMLModel", "HTMLMathModel", "LabelModel",
    "HBoxModel", "VBoxModel", "BoxModel", "GridBoxModel", "OutputModel", "LayoutModel",
    "ProgressStyleModel", "DescriptionStyleModel", "HTMLStyleModel", "LabelStyleModel",
    "HTMLMathStyleModel", "BoxStyleModel",
}

_MODEL_NAMES_JS = """
() => [...document.querySelectorAll('script[type="%s"]')].flatMap(s => {
  try { return Object.values(JSON.parse(s.textContent).state || {}).map(m => m.model_name); }
  catch (e) { return []; }
})
""" % WIDGET_STATE


def page_has_interactive_widgets(visit: Visit) -> bool:
    """Does the stored widget state hold a control (slider, select, ...), not only progress bars?"""
    names = visit.page.evaluate(_MODEL_NAMES_JS)
    return any(n not in DISPLAY_ONLY_MODELS for n in names)


def check_widgets(visit: Visit, timeout_ms: int = WIDGET_TIMEOUT_MS) -> list[str]:
    """Stored widgets render as live controls: every view drawn, a slider answers the keyboard."""
    page = visit.page
    if not page_has_widget_state(visit):
        return []
    problems = []
    try:
        page.wait_for_function(
            "() => { const v = [...document.querySelectorAll('script[type=\"%s\"]')];"
            " return v.length > 0 && v.every(s => s.previousElementSibling &&"
            " s.previousElementSibling.querySelector('.jupyter-widgets')); }" % WIDGET_VIEW,
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        pass
    views = page.evaluate(_WIDGETS_JS)
    if not views:
        return ["the page stores widget state but shows no widget view"]
    for i, v in enumerate(views):
        if not v["rendered"]:
            problems.append(f"widget view {i} was not rendered (is the HTML manager loaded?)")
        elif v["error"]:
            problems.append(f"widget view {i} rendered an error")
        elif v["size"] <= 0:
            problems.append(f"widget view {i} has no size on the page")
    if page_has_interactive_widgets(visit) and not any(v["controls"] for v in views if v["rendered"]):
        problems.append("no rendered widget has a control a reader can use")
    slider = page.locator(".widget-subarea [role=slider]").first
    if not problems and slider.count():
        before = slider.get_attribute("aria-valuenow")
        slider.focus()
        key = "ArrowLeft" if slider.get_attribute("aria-valuemax") == before else "ArrowRight"
        slider.press(key)
        after = slider.get_attribute("aria-valuenow")
        if after == before:
            problems.append(f"the slider did not move on {key} (value stayed {before}): not live")
    return problems


_THEME_JS = """
() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  let bg = rgb(getComputedStyle(document.body).backgroundColor);
  if (bg.length === 4 && bg[3] === 0) bg = rgb(getComputedStyle(document.documentElement).backgroundColor);
  const lum = (0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]) / 255;
  return {theme: document.documentElement.dataset.theme, lum};
}
"""


def check_dark_mode(visit: Visit, timeout_ms: int = 60_000) -> list[str]:
    """The theme switch turns the page dark: data-theme="dark" and a dark background.

    ``timeout_ms`` bounds each wait for the page to react; the checks that show a breakage is caught
    pass a short one, since there the reaction never comes."""
    page = visit.page
    start = page.evaluate(_THEME_JS)
    button = page.locator(".theme-switch-button").locator("visible=true").first
    if not button.count():
        return ["no visible theme switch button"]
    now = start
    for _ in range(3):  # the button cycles light -> dark -> auto
        if now["theme"] == "dark":
            break
        button.click()
        try:  # wait for the switch to act (a fixed pause would make the verdict depend on speed)
            page.wait_for_function("t => document.documentElement.dataset.theme !== t", arg=now["theme"],
                                   timeout=timeout_ms)
        except PlaywrightTimeout:
            break
        now = page.evaluate(_THEME_JS)
    if now["theme"] == "dark":
        try:  # the background may fade (a CSS transition): wait for it rather than for a fixed time
            page.wait_for_function(f"() => ({_THEME_JS})().lum < 0.35", timeout=timeout_ms)
        except PlaywrightTimeout:
            pass
        now = page.evaluate(_THEME_JS)
    problems = []
    if now["theme"] != "dark":
        problems.append(f"the theme switch never set data-theme='dark' (stuck at {now['theme']!r})")
    elif not (now["lum"] < 0.35 < start["lum"]):
        problems.append(
            f"data-theme is dark but the background did not darken ({start['lum']:.2f} -> {now['lum']:.2f})"
        )
    return problems


def check_search(browser: Browser, base_url: str, word: str, expect_docname: str) -> list[str]:
    """The search page finds ``word`` and lists the page it comes from."""
    with open_page(browser, f"{base_url}search.html?q={word}") as visit:
        try:  # Sphinx's searchtools.js retitles the results "Search Results" when it is done
            visit.page.wait_for_function(
                "() => { const h = document.querySelector('#search-results h2');"
                " return h && h.textContent.trim() === 'Search Results'; }",
                timeout=60_000,
            )
        except PlaywrightTimeout:
            return [f"the search for {word!r} never finished"]
        if not visit.page.locator("#search-results ul.search li").count():
            return [f"searching for {word!r} found nothing"]
        hrefs = visit.page.evaluate(
            "() => [...document.querySelectorAll('#search-results ul.search li a')].map(a => a.href)"
        )
        problems = check_console(visit) + check_requests(visit)
    if not any(urlsplit(h).path.endswith(f"/{expect_docname}.html") for h in hrefs):
        problems.append(f"searching for {word!r} did not list {expect_docname} (got {hrefs[:5]})")
    return problems


def title_word(html: str) -> str:
    """A word to search for: the longest word of the page's <h1> (titles are always indexed)."""
    m = re.search(r"<h1[^>]*>(.*?)</h1>", html, flags=re.S)
    title = re.sub(r"<[^>]+>", " ", m.group(1)) if m else ""
    words = re.findall(r"[A-Za-z]{4,}", title)
    if not words:
        raise ValueError(f"no searchable word in the title {title.strip()!r}")
    return max(words, key=len).lower()


PHONE_WIDTH = 390  # CSS px: a current phone held upright (iPhone 12-15)
_OVERFLOW_JS = """
() => {
  const vw = document.documentElement.clientWidth;
  const scrolls = el => {  // inside a box that scrolls or clips sideways and itself fits
    for (let p = el.parentElement; p; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX))
        return p.getBoundingClientRect().right <= vw + 0.5;
    }
    return false;
  };
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > vw + 0.5 && !scrolls(el)) {
      const cls = typeof el.className === 'string' ? el.className.trim().split(/\\s+/).slice(0, 2).join('.') : '';
      wide.push(`${el.tagName.toLowerCase()}${cls ? '.' + cls : ''} (right edge at ${Math.round(r.right)} px)`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width: vw, wide: wide.slice(0, 5)};
}
"""


def check_phone_width(visit: Visit, width: int = PHONE_WIDTH, screenshot_to: Path | None = None) -> list[str]:
    """At a phone's width the page never scrolls sideways: the document is no wider than the
    viewport (wide tables and equations scroll inside their own box). Names the widest culprits.
    The viewport is set back to what it was afterwards; ``screenshot_to``: a full-page PNG at
    that width."""
    page = visit.page
    before = page.viewport_size
    page.set_viewport_size({"width": width, "height": 844})
    try:
        page.wait_for_timeout(200)  # one layout pass after the resize (MathJax re-measures)
        found = page.evaluate(_OVERFLOW_JS)
        if screenshot_to is not None:
            screenshot(visit, screenshot_to)
    finally:
        if before:
            page.set_viewport_size(before)
    if found["scrollWidth"] <= found["width"]:
        return []
    return [f"at {width} px wide the page scrolls sideways: the document is {found['scrollWidth']} px wide; "
            f"past the right edge: {', '.join(found['wide']) or 'nothing visible'}"]


def screenshot(visit: Visit, path: Path) -> None:
    """Full-page PNG; CSS transitions are finished first (the sidebar slides in on load)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    visit.page.screenshot(path=str(path), full_page=True, animations="disabled")
