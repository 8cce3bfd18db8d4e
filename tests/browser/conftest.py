"""Fixtures of the browser tests; the helpers live in ``harness.py`` (see its docstring)."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import CHROMIUM, CHROMIUM_ARGS, LiveApp, sign_in, start_live_app


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            if not Path(CHROMIUM).exists():
                item.add_marker(pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (make browser-deps)"))


@pytest.fixture(autouse=True)
def dash_pages_reset() -> Iterator[None]:
    """Empty Dash's global page registry after each test (several apps live in one process)."""
    yield
    from dash import _pages

    _pages.PAGE_REGISTRY.clear()


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[LiveApp]:
    app = start_live_app(tmp_path)
    yield app
    app.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def signed_in(browser: Any, live_app: LiveApp) -> Iterator[Callable[..., Any]]:
    pages: list[Any] = []

    def make(role: str, **kw: Any) -> Any:
        page = sign_in(browser, live_app, role, **kw)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.context.close()


