"""A real browser on the built site: navigation, search, the papers table, heads across training,
no JavaScript errors.

Drives headless Chromium (Debian's chromium + chromium-driver, installed by .ci/run) through
Selenium. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import functools
import json
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from headdb import HeadDB
from headdb.site.build import build_site

from conftest import PAPERS, REPO

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = REPO / "test-artifacts" / "browser"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


TRAINED = "zoo-gpt2-induction"
TRAINING_STEPS = ("step-000500", "step-001500", "step-002500", "step-003500")


@pytest.fixture(scope="module")
def zoo_trained() -> Path:
    """The zoo's fast trained model with its checkpoints (built once into the zoo cache)."""
    from headdb.zoo import ZOO, build

    return build(ZOO[TRAINED])


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory, test_models, zoo_trained: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from headdb.circuits.store import run_circuit
    from headdb.jobs.loading import load_model
    from headdb.jobs.runner import run_detectors

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = tmp_path_factory.mktemp("browser")
    db = HeadDB(f"sqlite:///{root / 'b.sqlite'}")
    db.upgrade()
    db.ingest(PAPERS)
    planted = load_model(str(test_models["planted"]), name="headdb-planted")
    run_detectors(db, planted, ["previous-token", "induction", "successor"])
    run_circuit(db, planted, "ioi")
    for revision in TRAINING_STEPS:  # the zoo's trained model at four of its checkpoints
        run_detectors(db, load_model(str(zoo_trained), name=TRAINED, revision=revision), ["previous-token", "induction"])
    site = build_site(db, root / "site", staging=root / "src")
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def _errors(driver) -> list[str]:  # type: ignore[no-untyped-def]
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _wait(driver, condition, timeout: float = 15):  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _h1(driver) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "article h1").text


def test_navigation_home_to_head_type_paper_and_model(browser, site_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.get(site_url)
    assert "headdb" in browser.title
    browser.save_screenshot(str(ARTIFACTS / "01-home.png"))

    browser.find_element(By.LINK_TEXT, "Taxonomy").click()
    _wait(browser, lambda d: d.current_url.endswith("/taxonomy/"))
    browser.find_element(By.LINK_TEXT, "Successor Head").click()
    _wait(browser, lambda d: _h1(d) == "Successor Head")
    browser.save_screenshot(str(ARTIFACTS / "02-head-type.png"))

    browser.find_element(By.PARTIAL_LINK_TEXT, "Successor Heads: Recurring").click()
    _wait(browser, lambda d: _h1(d).startswith("Successor Heads: Recurring"))
    assert "Significant Result:" in browser.page_source and "@inproceedings{gould2023successor" in browser.page_source
    browser.save_screenshot(str(ARTIFACTS / "03-paper.png"))

    browser.find_element(By.LINK_TEXT, "Models").click()
    _wait(browser, lambda d: d.current_url.endswith("/models/"))
    browser.find_element(By.LINK_TEXT, "headdb-planted").click()
    _wait(browser, lambda d: _h1(d) == "headdb-planted")
    images = browser.find_elements(By.CSS_SELECTOR, "article img")
    assert len(images) == 3  # previous-token, induction, successor
    assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img) for img in images)
    browser.save_screenshot(str(ARTIFACTS / "04-model.png"))
    assert _errors(browser) == []


def test_search_finds_paper_by_title_word(browser, site_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.get(site_url)
    box = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "input.md-search__input"))
    box.click()
    box.send_keys("syllogistic")
    results = _wait(
        browser,
        lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".md-search-result__item") if "Syllogistic" in e.text],
        timeout=20,
    )
    browser.save_screenshot(str(ARTIFACTS / "05-search.png"))
    results[0].find_element(By.CSS_SELECTOR, "a").click()
    _wait(browser, lambda d: "Syllogistic" in _h1(d))
    assert _errors(browser) == []


def test_papers_table_filters_and_sorts(browser, site_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.get(site_url + "papers/")
    rows = browser.find_elements(By.CSS_SELECTOR, "article table tbody tr")
    assert len(rows) >= 68
    browser.find_element(By.CSS_SELECTOR, "input.headdb-table-filter").send_keys("retrieval head")
    visible = [r for r in rows if r.is_displayed()]
    assert 0 < len(visible) < len(rows) and all("Retrieval Head" in r.text for r in visible)
    header = browser.find_element(By.XPATH, "//article//table//th[normalize-space()='date']")
    header.click()  # ascending
    dates = [r.find_elements(By.TAG_NAME, "td")[0].text for r in browser.find_elements(By.CSS_SELECTOR, "article table tbody tr") if r.is_displayed()]
    assert dates == sorted(dates)
    browser.save_screenshot(str(ARTIFACTS / "06-papers-table.png"))
    assert _errors(browser) == []


@pytest.fixture(scope="module")
def catalog_site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The catalog alone (no detector runs): published data needs no model."""
    root = tmp_path_factory.mktemp("browser-catalog")
    db = HeadDB(f"sqlite:///{root / 'c.sqlite'}")
    db.upgrade()
    db.ingest(PAPERS)
    site = build_site(db, root / "site", staging=root / "src")
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_published_heatmap_of_a_real_model(browser, catalog_site_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.get(catalog_site_url)
    browser.find_element(By.LINK_TEXT, "Published data").click()
    _wait(browser, lambda d: _h1(d) == "Published per-head data")
    browser.find_element(By.LINK_TEXT, "Llama-2-7B-80K").click()
    _wait(browser, lambda d: _h1(d) == "Llama-2-7B-80K")
    assert "published by the papers' authors" in browser.page_source and "not computed by headdb" in browser.page_source
    images = browser.find_elements(By.CSS_SELECTOR, "article img")
    assert len(images) == 1
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", images[0])
    source = browser.find_element(By.PARTIAL_LINK_TEXT, "head_score/llama-2-7b-80k.json")
    assert source.get_attribute("href").startswith("https://github.com/nightdessert/Retrieval_Head/blob/")
    browser.save_screenshot(str(ARTIFACTS / "07-published-heatmap.png"))


def test_training_page_shows_when_heads_form(browser, site_url: str, zoo_trained: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.get(site_url)
    browser.find_element(By.LINK_TEXT, "Training").click()
    _wait(browser, lambda d: d.current_url.endswith("/training/"))
    browser.find_element(By.LINK_TEXT, TRAINED).click()
    _wait(browser, lambda d: _h1(d) == f"Heads across training: {TRAINED}")
    images = browser.find_elements(By.CSS_SELECTOR, "article img")
    assert len(images) == 2  # induction, previous-token
    assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img) for img in images)
    section = browser.find_element(By.XPATH, "//article//h2[normalize-space()='Previous Token Head']")
    table = section.find_element(By.XPATH, "following::table[1]")
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    # The heads labelled at some step are the final model's causally established previous-token
    # heads (its ground-truth file, from patching), each with the step its label first held.
    truth = json.loads((zoo_trained / "ground_truth.json").read_text())["roles"]["previous-token"]
    assert sorted(r[0] for r in rows) == sorted(truth["positives"])
    assert all(r[1] in {f"{int(s.split('-')[1]):,}" for s in TRAINING_STEPS} for r in rows), rows
    browser.save_screenshot(str(ARTIFACTS / "07-training.png"))
    browser.find_element(By.LINK_TEXT, TRAINED).click()  # back to the model page, revisions listed
    _wait(browser, lambda d: _h1(d) == TRAINED)
    assert "Revisions (4)" in browser.page_source
    assert _errors(browser) == []


def test_circuit_page_draws_the_planted_ioi_circuit(browser, site_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.get(site_url)
    browser.find_element(By.LINK_TEXT, "Circuits").click()
    _wait(browser, lambda d: _h1(d) == "Circuits")
    browser.find_element(By.PARTIAL_LINK_TEXT, "headdb-planted").click()
    _wait(browser, lambda d: _h1(d) == "headdb-planted: ioi circuit")
    images = browser.find_elements(By.CSS_SELECTOR, "article img")
    assert len(images) == 2  # the graph and the faithfulness curve
    assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img) for img in images)
    browser.save_screenshot(str(ARTIFACTS / "08-circuit.png"))
    browser.find_element(By.XPATH, "//article//a[normalize-space()='headdb-planted']").click()  # to the model page
    _wait(browser, lambda d: _h1(d) == "headdb-planted")
    assert browser.find_element(By.XPATH, "//article//h2[normalize-space()='Circuits']")
    assert _errors(browser) == []
