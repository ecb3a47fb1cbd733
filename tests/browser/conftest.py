"""Fixtures of the browser tests: one headless Chromium (Debian's ``chromium``
driven through ``chromium-driver`` by selenium; ``make browser-check`` installs
them), the small class graded once, and screenshots.

Pages are opened over file:// (nothing leaves the machine). Screenshots go to
``$ONE_NEURON_SHOTS`` when set, else to a temporary folder of the session.
"""

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from browser.small_class import graded_class
from PIL import Image

WIDTH = 1280
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        pytest.fail(
            f"headless Chromium is missing ({', '.join(missing)}): run 'make browser-check' "
            "(apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root in CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        f"--window-size={WIDTH},900",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def small_class(tmp_path_factory):
    """(course, exit code, results) of the small class graded by the class command."""
    return graded_class(tmp_path_factory)


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("ONE_NEURON_SHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(driver, path: Path, height: int = 900) -> None:
    driver.set_window_size(WIDTH, height)
    driver.get(Path(path).resolve().as_uri())


def full_screenshot(driver, path: Path) -> Path:
    """The whole page at 1280 px wide (height capped at 8000 px)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, min(int(height) + 100, 8000))
    driver.save_screenshot(str(path))
    driver.set_window_size(WIDTH, 900)
    return path


def pixel_variance(png: bytes) -> float:
    """Variance of the grey levels of a screenshot (0 for a blank image)."""
    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float).var())
