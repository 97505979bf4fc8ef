"""Reports opened in a real headless Chromium: no console errors, every plot rendered, a screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from archsim.reporting import build_report

pytestmark = pytest.mark.browser

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000"]


def _tool(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("ARCHSIM_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{names[0]} is required (ARCHSIM_REQUIRE_TOOLS=1) but not on PATH")
    pytest.skip(f"{names[0]} not installed")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    binary = _tool("chromium", "chromium-browser")
    driver_path = _tool("chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def open_and_check(driver, report: Path, screenshot: Path) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(report.as_uri())
    expected = driver.execute_script("return document.querySelectorAll('section .plotly-graph-div').length")
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".filter(e => e.querySelector('svg.main-svg')).length") >= expected)
    state = driver.execute_script("""
        const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
        return {plots: plots.length,
                rendered: plots.filter(p => p.querySelector('svg.main-svg')).length,
                drawn: plots.filter(p => p.querySelectorAll(
                    '.scatterlayer .trace, .barlayer .trace, .heatmaplayer image, .pielayer .trace').length > 0).length,
                sections: document.querySelectorAll('section').length};""")
    errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(height, 800), 8000))
    driver.save_screenshot(str(screenshot))
    state["expected"] = expected
    state["errors"] = errors
    return state


def test_run_report_renders(browser, run_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    state = open_and_check(browser, build_report(folder), tmp_path / "run.png")
    assert state["errors"] == []
    assert state["expected"] == 4  # roofline, operators, energy, timeline
    assert state["plots"] == state["rendered"] == state["drawn"] == 4
    assert (tmp_path / "run.png").stat().st_size > 10_000


def test_sweep_report_renders(browser, sweep_dir, tmp_path):
    folder = tmp_path / "sweep"
    shutil.copytree(sweep_dir, folder)
    state = open_and_check(browser, build_report(folder), tmp_path / "sweep.png")
    assert state["errors"] == []
    assert state["expected"] >= 8  # 6 heatmaps, Pareto, bounds
    assert state["plots"] == state["rendered"] == state["drawn"] == state["expected"]
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
