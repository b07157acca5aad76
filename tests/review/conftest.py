"""Fixtures for the review tests: a journal store in tmp_path and a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1200,1600",
)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The journal store the autouse suite fixture points CHAOSRUNNER_JOURNALS at."""
    root = Path(os.environ["CHAOSRUNNER_JOURNALS"])
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's chromium through chromedriver, fresh profile, console logs captured; quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), "chromium is not installed (make setup)"
    profile = tmp_path_factory.mktemp("chromium-profile")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def check_in_browser(driver: Any, html_file: Path, screenshot: Path) -> dict[str, Any]:
    """Open a report in Chromium; return what the DOM shows. Fails on console errors or network loads."""
    from selenium.webdriver.common.by import By

    driver.get_log("browser")  # drain anything left from an earlier page
    driver.get(html_file.resolve().as_uri())
    logs = driver.get_log("browser")
    assert [e for e in logs if e.get("level") in ("SEVERE", "WARNING")] == [], logs
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources == [], f"the report loaded external resources: {resources}"
    banners = driver.find_elements(By.CSS_SELECTOR, "[data-role=verdict] .v")
    charts = {
        el.get_attribute("data-chart"): len(el.find_elements(By.CSS_SELECTOR, "polyline"))
        for el in driver.find_elements(By.CSS_SELECTOR, "svg[data-chart]")
    }
    markers = sorted({el.get_attribute("data-marker") for el in driver.find_elements(By.CSS_SELECTOR, "[data-marker]")})
    size = driver.execute_script("return [document.body.scrollWidth, document.body.scrollHeight]")
    assert driver.save_screenshot(str(screenshot)), "screenshot failed"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return {
        "verdicts": [b.text.strip().lower() for b in banners],
        "charts": charts,
        "markers": markers,
        "sections": len(driver.find_elements(By.CSS_SELECTOR, "section.run")),
        "timelines": len(driver.find_elements(By.CSS_SELECTOR, "svg[data-role=timeline] rect")),
        "title": driver.title,
        "size": size,
        "text": driver.find_element(By.TAG_NAME, "body").text,
    }
