"""Headless Chromium for looking at the pages as a person would: the browser tests and the README screenshots.

Uses the system's Chromium (Debian: `apt-get install chromium`) driven by Playwright (a development dependency);
`playwright install` is never needed. The flags keep a sandboxed, offline Chromium from reaching out to the network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# True in a page once every Plotly figure on it is drawn (report.js marks each plot div `data-ready`).
PLOTS_READY = "document.querySelectorAll('div.plot:not([data-ready])').length === 0"


def find_chromium() -> str | None:
    """$CHROMIUM, else the first Chromium or Chrome on PATH, else None."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def why_no_browser() -> str | None:
    """None when a browser can be driven here, else the reason in one line."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (uv sync installs the development dependencies)"
    if find_chromium() is None:
        return "no Chromium on PATH (Debian: apt-get install chromium; `make test` installs it when run as root)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (a Playwright Browser), closed with its driver on every exit path."""
    reason = why_no_browser()
    if reason:
        raise RuntimeError(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_FLAGS))
        try:
            yield browser
        finally:
            browser.close()
