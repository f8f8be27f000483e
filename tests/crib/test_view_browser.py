"""`crib view` in a real headless browser (Debian's chromium through chromedriver), over a
database made by real scripted `crib solve` and `crib search` runs (tests/crib/view_data.py).

Every page renders its data; the model reply carrying <script> and an onerror image is shown as
text and runs nothing; the browser console stays clean. Screenshots of the main pages go to
build/test-artifacts/view/ (or $CRIB_TEST_ARTIFACTS).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.crib.view_data import INJECTED, SECRET

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("CRIB_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "view"


@pytest.fixture(scope="module")
def data(view_data):
    return view_data


@pytest.fixture(scope="module")
def viewer(data):
    """`crib view` as a user starts it, on a free port; yields its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "crib", "view", "--db", data.db_url,
                             "--port", "0"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    try:
        line = proc.stderr.readline()
        assert "crib view on http://127.0.0.1:" in line, line + proc.stderr.read()
        yield line.split(" on ", 1)[1].split()[0].rstrip("/")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed (make test installs them)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"crib-view-chrome-{os.getpid()}"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def visit(browser, url: str, shot: str | None = None) -> str:
    """Load a page, check nothing ran and the console is clean; returns the page's text."""
    browser.get(url)
    assert browser.execute_script("return window.pwned === undefined"), url
    assert browser.title != "pwned" and browser.title.endswith("crib view"), browser.title
    assert not browser.find_elements("css selector", "img[src='x']")
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == [], (url, errors)
    if shot:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / f"{shot}.png"))
    return browser.find_element("tag name", "body").text


def attempt_ids(data, run_id: str) -> list[str]:
    with sqlite3.connect(data.db_path) as conn:
        return [r[0] for r in conn.execute(
            "SELECT id FROM attempts WHERE run_id = ? ORDER BY id", (run_id,))]


def test_runs_list_shows_both_runs_and_filters(browser, viewer, data):
    text = visit(browser, viewer + "/", "runs")
    assert data.solve_run in text and data.search_run in text
    assert "1.000 [1.000, 1.000]" in text or "[" in text  # accuracy with its interval
    only_search = visit(browser, viewer + "/?mode=search")
    assert data.search_run in only_search and data.solve_run not in only_search


def test_solve_run_page_problems_curve_and_failure_filter(browser, viewer, data):
    text = visit(browser, f"{viewer}/runs/{quote(data.solve_run)}", "solve-run")
    rows = browser.find_elements("css selector", "#problems tbody tr")
    assert len(rows) == 12 and "game24-" in text
    curve = browser.find_element("id", "curve")
    assert browser.execute_script("return arguments[0].naturalWidth", curve) > 0  # it loaded
    assert "cold" in browser.find_element("id", "learning").text
    browser.find_element("id", "only-failures").click()
    failures = browser.find_elements("css selector", "#problems tbody tr")
    assert 0 < len(failures) < 12 and all("failed" in r.get_attribute("class") for r in failures)


def test_attempt_transcript_shows_injected_reply_as_text(browser, viewer, data):
    ids = attempt_ids(data, data.solve_run)
    shown = 0
    for i, attempt in enumerate(ids):
        text = visit(browser, f"{viewer}/attempts/{quote(attempt, safe=':')}",
                     "attempt" if i == 0 else None)
        assert "model call · solver" in text and "sandbox run · agent tier" in text
        assert "def forward" in browser.find_element("id", "transcript").get_attribute(
            "textContent")  # the agent's code, highlighted
        shown += INJECTED in text
    assert shown >= 1, "the injected reply should appear, as text, in some transcript"
    assert visit(browser, f"{viewer}/attempts/{quote(ids[0], safe=':')}")


def test_memory_scope_entries_timeline_and_diff(browser, viewer, data):
    assert data.scope in visit(browser, viewer + "/memory")
    text = visit(browser, f"{viewer}/memory/{data.scope}", "memory-scope")
    assert "Products of pairs" in text and INJECTED in text
    assert len(browser.find_elements("css selector", "#timeline tbody tr")) >= 1
    text = visit(browser, f"{viewer}/memory/{data.scope}?v1=0&v2=1")
    assert "v0 → v1: 1 added" in text


def test_search_run_leaderboard_lineage_diff_and_rejections(browser, viewer, data):
    text = visit(browser, f"{viewer}/runs/{quote(data.search_run)}", "search-run")
    board = browser.find_elements("css selector", "#leaderboard tbody tr")
    assert len(board) >= 2 and "strong" in board[0].text and "[" in board[0].text
    assert "test [95% CI]" in text
    assert "broken" in browser.find_element("id", "rejected").text
    assert len(browser.find_elements("css selector", "#lineage li")) >= 3
    progress = browser.find_element("id", "progress")
    assert browser.execute_script("return arguments[0].naturalWidth", progress) > 0
    browser.find_element("id", "loose-calls").click()
    text = visit(browser, browser.current_url, "search-meta-calls")
    assert "model call · meta" in text and "This is generation 1 of the search" in text
    browser.back()
    browser.find_element("link text", "strong").click()
    text = visit(browser, browser.current_url, "search-entry")
    assert "Code diff against its parent" in text and INJECTED in text  # the thought, as text
    diff = browser.find_element("id", "code-diff").text
    assert "skill=90" in diff and "+" in diff
    links = browser.find_elements("css selector", "#evaluations a.attempt-link")
    assert links, "evaluations link to their attempts"
    links[0].click()
    assert "model call · solver" in visit(browser, browser.current_url)


def test_no_secret_in_the_database(data):
    assert SECRET.encode() not in data.db_path.read_bytes()
    wal = data.db_path.with_name(data.db_path.name + "-wal")
    assert not wal.exists() or SECRET.encode() not in wal.read_bytes()


def test_no_write_routes_strict_headers_and_no_script(viewer, data):
    import urllib.error
    import urllib.request

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        request = urllib.request.Request(f"{viewer}/runs/{data.solve_run}", data=b"x",
                                         method=method)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=30)
        assert err.value.code == 405, method
    attempt = attempt_ids(data, data.solve_run)[0]
    for path in ("/", f"/runs/{data.solve_run}", f"/memory/{data.scope}",
                 f"/attempts/{quote(attempt, safe=':')}"):
        with urllib.request.urlopen(viewer + path, timeout=30) as r:
            csp = r.headers["content-security-policy"]
            html = r.read().decode()
        assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp
        # The injected markup is there only escaped (as text), never as a tag.
        assert "<script" not in html.lower() and "<img src=x" not in html.lower()


def test_the_viewer_opens_the_database_read_only(data):
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from crib.view.app import readonly_engine

    engine = readonly_engine(data.db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM runs")).scalar() >= 2
        with pytest.raises(OperationalError, match="readonly"):
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM runs"))
    finally:
        engine.dispose()


def test_a_missing_database_is_one_clear_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "crib", "view", "--db",
                        f"sqlite:///{tmp_path / 'none.db'}"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "none.db" in r.stderr and "Traceback" not in r.stderr


def test_an_older_database_without_transcripts_is_said_not_traced(data, tmp_path):
    from starlette.testclient import TestClient

    from crib.view.app import create_app, readonly_engine

    old = tmp_path / "old.db"
    with sqlite3.connect(data.db_path) as src, sqlite3.connect(old) as dst:
        src.backup(dst)
        dst.execute("DROP TABLE transcript_events")
    engine = readonly_engine(f"sqlite:///{old}")
    try:
        client = TestClient(create_app(engine), raise_server_exceptions=False)
        assert client.get("/").status_code == 200  # what does not need them still works
        attempt = attempt_ids(data, data.solve_run)[0]
        r = client.get(f"/attempts/{quote(attempt, safe=':')}")
        assert r.status_code == 500 and "no such table: transcript_events" in r.text
        assert "Traceback" not in r.text and "crib runs stats" in r.text
    finally:
        engine.dispose()
