"""Fixtures for the report tests: a tiny PNG and a real headless browser.

The browser is Debian's chromium (``/usr/bin/chromium``, installed by ``.ci/run``) driven by the
``playwright`` package of the ``test`` extra; playwright's own browser downloads are never used.
Without either, the browser tests skip with a one-line reason.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path(os.environ.get("AMES_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-default-apps", "--disable-extensions"]


@pytest.fixture
def tiny_png():
    """A real 6 x 4 px PNG (written by imageio)."""
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", np.arange(24, dtype=np.uint8).reshape(4, 6) * 10, extension=".png")


@pytest.fixture(scope="session")
def browser(playwright_manager):
    """A headless Debian chromium under playwright, one per test session (worker)."""
    from playwright.sync_api import Error

    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)) and not shutil.which(str(CHROMIUM)):
        pytest.skip(f"browser tests: no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    try:
        browser = playwright_manager.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                                     timeout=60_000)
    except Error as exc:
        pytest.skip(f"browser tests: chromium did not start ({str(exc).splitlines()[0]})")
    yield browser
    browser.close()


class OpenedPage:
    """A page opened from a file:// URL, with what went wrong while it loaded."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        self.failed_requests: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: m.type in ("error", "warning") and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed_requests.append(f"{r.url} {r.failure}"))
        page.on("request", lambda r: self.requests.append(r.url))

    def broken_images(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)")


@pytest.fixture
def open_html(browser, tmp_path):
    """``open_html(text, name)`` writes the page to disk and opens it from file:// in a fresh context."""
    contexts = []

    def open_(text: str, name: str = "page.html", viewport=(1400, 900)) -> OpenedPage:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        context = browser.new_context(accept_downloads=True,
                                      viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        opened = OpenedPage(context.new_page())
        opened.page.goto(path.as_uri(), wait_until="load")
        opened.path = path
        return opened

    yield open_
    for context in contexts:
        context.close()
