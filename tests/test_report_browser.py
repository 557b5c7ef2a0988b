"""The HTML reports rendered by real headless Chromium: summary, matrix, failure details, filters."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main

from conftest import real_sample, run_suite

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
FAULT, BROKEN = "no-request-id-202", "RSP-202-REQUEST-ID"
SAMPLE_202 = "reimage-202_2025-06-01.json"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole module."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (apt package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick run against the emulator with a fault: one MUST fails, the others pass."""
    report_dir = tmp_path_factory.mktemp("run")
    run = run_suite(report_dir, "--emulator-fault", FAULT, "--only", BROKEN, "--only", "RSP-202-STATUS", "--only",
                    "RSP-202-EMPTY-BODY")
    assert run.code == 1
    return report_dir


@pytest.fixture(scope="module")
def traffic_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A validate-traffic report of a good and a corrupted copy of the real 202 sample."""
    folder = tmp_path_factory.mktemp("traffic")
    good, bad = real_sample(SAMPLE_202), real_sample(SAMPLE_202)
    del bad["response"]["headers"]["DataServiceId"]
    (folder / "t.json").write_text(json.dumps([good, bad]))
    assert main(["validate-traffic", str(folder / "t.json"), "--report-dir", str(folder / "r")]) == 1
    return folder / "r"


def _open(browser: Any, report: Path) -> Any:
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(report.as_uri())
    page.wait_for_selector("#bc-summary")
    return page


def _visible_rows(page: Any) -> list[str]:
    return list(page.eval_on_selector_all(
        "#bc-matrix tr.bc-row", "rows => rows.filter(r => r.offsetParent !== null).map(r => r.id)"))


def _shot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def test_run_report_summary_matrix_and_failure_render(browser: Any, failing_run: Path, tmp_path: Path) -> None:
    page = _open(browser, failing_run / "report.html")
    assert page.inner_text("#bc-verdict") == "FAIL"
    assert page.inner_text("#bc-target") == "embedded emulator" and page.inner_text("#bc-profile") == "quick"
    assert page.is_visible("#bc-counts") and page.is_visible("#bc-plot")
    rows = _visible_rows(page)
    assert rows == ["bc-row-RSP-202-STATUS", f"bc-row-{BROKEN}", "bc-row-RSP-202-EMPTY-BODY"]
    assert page.inner_text(f"#bc-row-{BROKEN} .bc-status") == "fail"
    details = page.locator(f"#bc-failures .bc-failure[data-requirement='{BROKEN}']")
    assert details.is_visible()
    reproduce = details.locator(".bc-reproduce").inner_text()
    assert reproduce.startswith("batch-conformance run --emulator-fault no-request-id-202")
    assert f"--only {BROKEN}" in reproduce and "--seed" in reproduce
    assert "curl -i -X POST" in details.locator(".bc-curl").inner_text()
    assert "202" in details.locator(".bc-response").inner_text()
    # pytest-html's own row for the failing test carries the same details
    assert page.locator(".extraHTML .bc-failure").first.is_visible()
    _shot(page, tmp_path / "run-report.png")
    page.close()


def test_run_report_filters_hide_rows(browser: Any, failing_run: Path, tmp_path: Path) -> None:
    page = _open(browser, failing_run / "report.html")
    page.select_option("#bc-filter-status", "fail")
    assert _visible_rows(page) == [f"bc-row-{BROKEN}"] and page.inner_text("#bc-shown") == "1"
    page.select_option("#bc-filter-status", "")
    page.select_option("#bc-filter-level", "SHOULD")
    assert _visible_rows(page) == ["bc-row-RSP-202-EMPTY-BODY"]
    page.select_option("#bc-filter-status", "fail")
    assert _visible_rows(page) == []
    _shot(page, tmp_path / "filtered.png")
    page.select_option("#bc-filter-status", "")
    page.select_option("#bc-filter-level", "")
    assert len(_visible_rows(page)) == 3
    page.close()


def test_traffic_report_renders_failure_with_its_location(browser: Any, traffic_report: Path,
                                                         tmp_path: Path) -> None:
    page = _open(browser, traffic_report / "report.html")
    assert page.inner_text("#bc-verdict") == "FAIL"
    assert page.inner_text("#bc-target").startswith("traffic: ")
    details = page.locator("#bc-failures .bc-failure[data-requirement='RSP-202-DATASERVICEID']")
    assert details.is_visible() and details.locator(".bc-where").inner_text().endswith("t.json entry 1")
    assert details.locator(".bc-reproduce").inner_text().startswith("batch-conformance validate-traffic ")
    page.select_option("#bc-filter-status", "pass")
    visible = _visible_rows(page)
    assert visible and "bc-row-RSP-202-REQUEST-ID" in visible and "bc-row-RSP-202-DATASERVICEID" not in visible
    _shot(page, tmp_path / "traffic-report.png")
    page.close()


GATED_ONLY = ("SEM-BAD-BODY", "NO-SERVER-ERROR", "SEM-NODE-NOT-FOUND", "SEM-ACCEPT")
KNOWN = """[requirement.SEM-NODE-NOT-FOUND]
expected = "fail"
reason = "500 for unknown nodes, fixed in 2.4"
link = "https://tracker.example/B-1"

[requirement.NO-SERVER-ERROR]
expected = "fail"
reason = "the same 500"
"""


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fault breaking several requirements through one cause (500 for bad bodies), and an expectations file
    listing two of them: one distinct failure, two expected results and one unexpected."""
    folder = tmp_path_factory.mktemp("gated")
    (folder / "known.toml").write_text(KNOWN)
    run = run_suite(folder / "r", "--emulator-fault", "bad-json-500", "--expectations", str(folder / "known.toml"),
                    *[a for rid in GATED_ONLY for a in ("--only", rid)])
    assert run.code == 1
    return folder / "r"


def _top(page: Any, selector: str) -> float:
    return float(page.eval_on_selector(selector, "e => e.getBoundingClientRect().top"))


def test_run_report_leads_with_the_buckets_then_expectations_and_record(browser: Any, gated_run: Path,
                                                                         tmp_path: Path) -> None:
    page = _open(browser, gated_run / "report.html")
    buckets = page.locator("#bc-buckets li.bc-bucket")
    assert buckets.count() == 1
    assert sorted(buckets.first.get_attribute("data-requirements").split()) == [
        "NO-SERVER-ERROR", "SEM-BAD-BODY", "SEM-NODE-NOT-FOUND"]
    assert buckets.first.locator(".bc-bucket-title").inner_text().startswith("500 InternalError to SEM-BAD-BODY input")
    assert _top(page, "#bc-buckets") < _top(page, "#bc-expectations") < _top(page, "#bc-record") < _top(
        page, "#bc-matrix")
    assert page.inner_text("#bc-gate-verdict") == "FAIL"
    outcomes = {row.get_attribute("id"): row.get_attribute("data-outcome")
                for row in page.locator("#bc-gate tr.bc-gate-row").all()}
    assert outcomes == {"bc-gate-SEM-BAD-BODY": "unexpected", "bc-gate-NO-SERVER-ERROR": "expected",
                        "bc-gate-SEM-NODE-NOT-FOUND": "expected"}
    assert page.locator("#bc-gate-SEM-NODE-NOT-FOUND a").get_attribute("href") == "https://tracker.example/B-1"
    assert page.inner_text("#bc-row-SEM-NODE-NOT-FOUND .bc-expectation") == "expected"
    assert page.inner_text("#bc-emulator-fault") == "bad-json-500" and page.is_visible("#bc-spec-docs")
    _shot(page, tmp_path / "gated-report.png")
    page.close()


def test_badge_renders_verdict_and_decided_must_count(browser: Any, gated_run: Path, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 400, "height": 100})
    page.goto((gated_run / "badge.svg").as_uri())
    box = page.locator("svg").bounding_box()
    assert box is not None and box["width"] > 150 and box["height"] == 20
    assert page.locator("svg text").last.text_content() == "fail | 4/4 MUST decided"
    shot = tmp_path / "badge.png"
    page.locator("svg").screenshot(path=str(shot))
    assert shot.stat().st_size > 500
    page.close()
