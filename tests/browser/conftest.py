"""Fixtures of the browser suite: the built book, a local web server, one headless Chromium.

The suite builds the book once per session exactly as ``make book`` does (install the offline
JavaScript with tools/offline_assets.py, then ``jupyter-book build . -W -n --keep-going``), serves
``_build/html`` from 127.0.0.1 and drives Debian's Chromium through Playwright. Set
``EMBEDLAB_BOOK_HTML=_build/html`` to check an existing build instead (it must be newer than every
page's source), and ``EMBEDLAB_CHROMIUM`` to use another Chromium or Chrome binary.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FIXTURE_BOOK = HERE / "fixture_book"
SCREENSHOTS = ROOT / "_build" / "screenshots"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
INSTALL_HINT = (
    "The browser tests need Chromium. On Debian/Ubuntu: `sudo apt-get install chromium` "
    "(it installs /usr/bin/chromium; .ci/run does this). Elsewhere set EMBEDLAB_CHROMIUM to a "
    "Chromium or Chrome binary, or run `.venv/bin/python -m playwright install chromium` and set "
    "EMBEDLAB_CHROMIUM=playwright."
)

_timings: dict[str, float] = {}



def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def build_book(book: Path, out: Path | None = None, strict: bool = True) -> Path:
    """Install the offline assets and build ``book``; returns its _build/html folder."""
    from tools import offline_assets

    offline_assets.ensure_assets()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(book)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    if out is not None:
        cmd += ["--path-output", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        problems = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
        pytest.fail(
            f"`{' '.join(cmd[1:])}` failed (exit {proc.returncode}); its warnings and errors:\n"
            + "\n".join(problems or [_tail(log)]),
            pytrace=False,
        )
    return (out or book) / "_build" / "html"


def _stale_pages(book: Path, html: Path) -> list[str]:
    """Pages missing from the build or whose source changed after their HTML was written."""
    import browser_checks as checks

    stale = []
    for docname in checks.toc_docnames(book):
        page = html / f"{docname}.html"
        source = checks.source_of(book, docname).stat().st_mtime
        if not page.is_file() or page.stat().st_mtime < source:
            stale.append(docname)
    return stale


@pytest.fixture(scope="session")
def book_html() -> Path:
    """The real book, built once for the session (or the build named by EMBEDLAB_BOOK_HTML)."""
    prebuilt = os.environ.get("EMBEDLAB_BOOK_HTML")
    if prebuilt:
        html = (ROOT / prebuilt).resolve()
        index = html / "index.html"
        if not index.is_file():
            pytest.fail(f"EMBEDLAB_BOOK_HTML={prebuilt}: no index.html there", pytrace=False)
        stale = _stale_pages(ROOT, html)
        if stale:
            pytest.fail(f"{prebuilt} is older than the sources of {stale}: run `make book` first", pytrace=False)
    else:
        start = time.perf_counter()
        html = build_book(ROOT)
        _timings["book build"] = time.perf_counter() - start
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # this session's screenshots only
    _timings.setdefault("book build", 0.0)  # marks that this session checked the real book
    return html


@pytest.fixture(scope="session")
def fixture_html() -> Path:
    """The small, deliberately broken book of tests/browser/fixture_book (warnings allowed)."""
    start = time.perf_counter()
    html = build_book(FIXTURE_BOOK, out=ROOT / "_build" / "browser_fixture", strict=False)
    _timings["fixture book build"] = time.perf_counter() - start
    return html


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        pass


@pytest.fixture(scope="session")
def serve() -> Iterator:
    """serve(folder) -> base URL of a local web server for that folder (one per folder)."""
    servers: dict[Path, http.server.ThreadingHTTPServer] = {}

    def start(folder: Path) -> str:
        if folder not in servers:
            handler = functools.partial(_QuietHandler, directory=str(folder))
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers[folder] = server
        return f"http://127.0.0.1:{servers[folder].server_address[1]}/"

    yield start
    for server in servers.values():
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def book_url(book_html: Path, serve) -> str:
    return serve(book_html)


@pytest.fixture(scope="session")
def fixture_url(fixture_html: Path, serve) -> str:
    return serve(fixture_html)


def chromium_executable() -> str | None:
    """The browser binary to drive (None: Playwright's own download); fails loudly if missing."""
    wanted = os.environ.get("EMBEDLAB_CHROMIUM", DEFAULT_CHROMIUM)
    if wanted == "playwright":
        return None
    if not (os.path.isfile(wanted) and os.access(wanted, os.X_OK)):
        pytest.fail(f"No Chromium at {wanted}. {INSTALL_HINT}", pytrace=False)
    return wanted


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One headless Chromium for the whole session.

    Playwright's launch() gives it a fresh, temporary --user-data-dir (it refuses one in args),
    and every page is opened in its own context, so no state leaks from page to page.
    """
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # a broken install: say how to fix it, not just the traceback
            pytest.fail(f"Chromium ({executable}) did not start: {exc}\n{INSTALL_HINT}", pytrace=False)
        _timings["browser start"] = time.perf_counter() - start
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def link_cache():
    import browser_checks as checks

    return checks.LinkCache()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _timings:
        terminalreporter.write_sep("-", "browser suite timings")
        for name, seconds in _timings.items():
            terminalreporter.write_line(f"{seconds:7.1f} s  {name}")
        if "book build" in _timings and SCREENSHOTS.is_dir():
            n = len(list(SCREENSHOTS.glob("*.png")))
            terminalreporter.write_line(f"{n} full-page screenshots in {SCREENSHOTS.relative_to(ROOT)}/")
