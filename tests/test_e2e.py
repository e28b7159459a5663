"""End to end: the real Streamlit server on 127.0.0.1 driven by Debian's headless Chromium.

Runs a search, applies a filter, downloads the results, opens a document, clicks a heatmap
cell, visits every page and uploads a report; saves a screenshot of each page into
artifacts/screenshots/ (kept by CI); checks that pages show results, that no Streamlit error
box appears and that the browser never asks anything of a host other than the local server.
"""
from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dhr import config
from dhr.store import Store
from tests.explorer_data import build_store

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from dhr.index import SearchIndex

    data = tmp_path_factory.mktemp("e2e") / "data"
    store = build_store(data)
    idx = SearchIndex(data)
    idx.update_from_store(store)
    idx.close()
    store.close()
    port = free_port()
    log = open(data.parent / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "explorer.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=dict(os.environ, **{config.ENV_VAR: str(data)}), stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=1).read().strip() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start: " + (data.parent / "streamlit.log").read_text())
            time.sleep(0.3)
        yield base, data
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser_page(server):
    base, _ = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(30000)
        foreign: list[str] = []
        page.on("request", lambda r: foreign.append(r.url)
                if urlparse(r.url).hostname not in ("127.0.0.1", None) and not r.url.startswith("data:") else None)
        yield page, foreign
        context.close()
        browser.close()


def settle(page) -> None:
    """Wait until Streamlit has finished running the script and drawn the visible charts."""
    page.wait_for_selector('[data-testid="stApp"] h1')
    time.sleep(0.4)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')]"
        ".filter(e => e.offsetParent).every(e => e.querySelector('canvas, svg'))"
    )
    time.sleep(0.4)


def check(page, name: str) -> None:
    settle(page)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0, f"error box on {name}"


def test_explorer_in_a_real_browser(server, browser_page):
    base, data = server
    page, foreign = browser_page

    # Search: everything, then a query, then a filter
    page.goto(base + "/")
    page.get_by_text("22 passages (all passages)").wait_for()
    box = page.get_by_role("textbox", name="Search passages")
    box.fill("DASH")
    box.press("Enter")
    page.get_by_text("4 passages for DASH").wait_for()
    assert page.locator("mark").count() >= 4
    page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first.click()
    page.get_by_role("option", name="Referrals and pathways").click()
    page.keyboard.press("Escape")
    page.get_by_text("3 passages for DASH").wait_for()
    check(page, "1-search")

    # export of the current results
    with page.expect_download() as dl:
        page.locator(".st-key-search-csv button").first.click()
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8"))))
    assert sorted(r["passage_id"] for r in rows) == [
        "dhr-adam-2012:00003", "dhr-carol-2014:00003", "dhr-eve-2018:00002"]

    # open a document from a hit
    page.get_by_role("button", name="Open document").first.click()
    page.get_by_role("heading", name="Document", exact=True).wait_for()
    settle(page)
    assert "/document" in page.url and "doc=" in page.url
    assert page.locator(".dhr-focus").count() == 1
    sync_api.expect(page.locator(".dhr-focus")).to_be_in_viewport()  # scrolled to the passage
    check(page, "4-document")

    # Themes: click a heatmap cell and read the passages behind it
    page.goto(base + "/themes")
    settle(page)
    heat = page.locator('[data-testid="stVegaLiteChart"]').nth(2)
    heat.scroll_into_view_if_needed()
    cell = heat.locator(".mark-rect path").first
    if cell.count():
        cell.click(force=True)
        page.get_by_text("Clear selection").wait_for()
        settle(page)
        assert page.locator(".dhr-passage").count() >= 1
    check(page, "2-themes")

    # Recommendations & agencies: table, network, recurring
    page.goto(base + "/recommendations")
    page.get_by_text("11 of 11 recommendations").wait_for()
    check(page, "3-recommendations-table")
    page.get_by_role("tab", name="Network").click()
    check(page, "3-recommendations-network")
    page.get_by_role("tab", name="Recurring recommendations").click()
    page.get_by_text("2 recurring groups across 2 agencies.").wait_for()
    check(page, "3-recommendations-recurring")

    # Export: the download is exactly `dhr export`
    page.goto(base + "/export")
    page.get_by_text("22 of 22 passages").wait_for()
    settle(page)
    with page.expect_download() as dl:
        page.locator(".st-key-export-csv button").first.click()
    from dhr.export import export_bytes

    with Store(config.db_path(data)) as store:
        assert Path(dl.value.path()).read_bytes() == export_bytes(store, "csv", {})
    check(page, "5-export")

    # Add reports: upload one good and one broken file
    page.goto(base + "/add-reports")
    settle(page)
    page.locator('input[type="file"]').set_input_files([
        {"name": "DHR Hana 2023.txt", "mimeType": "text/plain", "buffer": (
            b"Domestic Homicide Review: Hana\n\nRecommendations\n\nRecommendation 1: The housing provider should "
            b"ask about domestic abuse when tenants report arrears.\n")},
        {"name": "broken.pdf", "mimeType": "application/pdf", "buffer": b"not really a pdf"},
    ])
    page.get_by_role("button", name="Add to the collection").click()
    page.get_by_text("Added 1 report").wait_for(timeout=90000)
    page.get_by_text("not a PDF file").wait_for(timeout=30000)  # the refusal is listed with the result
    check(page, "6-add-reports")
    page.goto(base + "/")
    page.get_by_text("passages (all passages)").wait_for()
    settle(page)
    assert page.get_by_text("22 passages (all passages)").count() == 0  # the new report is searchable

    assert not foreign, f"requests to other hosts: {sorted(set(foreign))[:5]}"
    log = (data.parent / "streamlit.log").read_text()
    assert "Traceback" not in log, log[-3000:]
