"""The admin page in a real headless browser: Debian's chromium driven by Selenium through /usr/bin/chromedriver
(installed by `devstack install`, never downloaded by Selenium), against the bridge served by uvicorn on a free port
with a real PostgreSQL. An operator logs in with basic auth, filters, opens a failed document's history, presses
Retry, marks a manual-booking document as booked manually, and opens the month's reconciliation (the Lexoffice
sandbox serves the voucherlist)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from intplat_devstack.browser import ensure_chromium
from intplat_sandboxes.framework import serve_in_background
from intplat_sandboxes.lexoffice import create_lexoffice_sandbox
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from intplat_common.service import create_service_app
from lexoffice_bridge.app import SERVICE

from .admin_app import PASSWORDS, admin_settings
from .admin_seed import failed_document, kinds, manual_document, statuses
from .conftest import API_KEY


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    chromium, chromedriver = ensure_chromium()
    options = Options()
    options.binary_location = str(chromium)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(argument)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")  # Selenium Manager, should it be asked anything, downloads nothing
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(chromedriver)))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def rows(driver: WebDriver, table: str) -> list[list[str]]:
    return [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
    ]


def text_of(driver: WebDriver, element_id: str, expected: str) -> None:
    WebDriverWait(driver, 30).until(expected_conditions.text_to_be_present_in_element((By.ID, element_id), expected))


def navigate(driver: WebDriver, by: str, value: str) -> None:
    """Click a link or submit button and wait until the next page replaced this one: a wait for text alone can be
    met by the old page (the list's state filter also reads "failed"), and reading its rows then fails."""
    # A mark on this page's window: the next page has a window object of its own. (Waiting for an element of the
    # old page to go stale raced too: chromedriver then answers "Node with given id does not belong to the
    # document", which Selenium's staleness check does not take for stale.)
    driver.execute_script("window.__leaving = true")
    driver.find_element(by, value).click()
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return window.__leaving === undefined && document.readyState === 'complete'")
    )


def operator_session(driver: WebDriver, base: str) -> None:
    parts = urlsplit(base)
    driver.get(f"{parts.scheme}://erika:{PASSWORDS['erika']}@{parts.netloc}/admin/")
    text_of(driver, "total", "3 documents")

    Select(driver.find_element(By.ID, "state")).select_by_value("failed")
    driver.find_element(By.ID, "q").send_keys("INV-3001")
    navigate(driver, By.ID, "filter")
    text_of(driver, "total", "1 document")
    assert [row[0] for row in rows(driver, "documents")] == ["in_failed"]
    assert "state=failed" in driver.current_url

    navigate(driver, By.LINK_TEXT, "in_failed")
    text_of(driver, "state", "failed")
    effects = {row[0]: row for row in rows(driver, "effects")}
    assert effects["voucher:INV-3001"][1:3] == ["dead", "1"]
    assert "406 Lexoffice refused the voucher" in effects["voucher:INV-3001"][5]
    assert "invalid_value" in effects["voucher:INV-3001"][6], "Lexoffice's answer is shown"

    navigate(driver, By.ID, "retry")
    text_of(driver, "notice", "Retry requested")
    text_of(driver, "state", "retry_requested")
    assert [(row[2], row[3]) for row in rows(driver, "ledger")][-1] == ("retry_requested", "erika")
    assert {row[0]: row[1] for row in rows(driver, "effects")}["voucher:INV-3001"] == "queued"
    assert not driver.find_elements(By.ID, "retry"), "nothing left to retry"

    navigate(driver, By.LINK_TEXT, "← all documents")
    Select(driver.find_element(By.ID, "state")).select_by_value("manual")
    navigate(driver, By.ID, "filter")
    text_of(driver, "total", "1 document")
    navigate(driver, By.LINK_TEXT, "in_usd")
    text_of(driver, "state", "needs_manual_booking")
    driver.find_element(By.ID, "document_number").send_keys("RE-0042")
    driver.find_element(By.ID, "note").send_keys("USD invoice booked by hand in Lexware")
    navigate(driver, By.ID, "mark-booked")
    text_of(driver, "notice", "booked manually")
    text_of(driver, "state", "booked_manually")
    last = rows(driver, "ledger")[-1]
    assert (last[2], last[3], last[5]) == ("booked_manually", "erika", "USD invoice booked by hand in Lexware")

    navigate(driver, By.ID, "nav-reconcile")
    text_of(driver, "mismatch-count", "2 mismatches")
    lines = {row[0]: row for row in rows(driver, "lines")}
    assert {key: line[7] for key, line in lines.items()} == {
        "in_failed": "missing",
        "in_other": "missing",
        "in_usd": "booked_manually",
    }
    highlighted = driver.find_elements(By.CSS_SELECTOR, "#lines tbody tr.mismatch td:first-child")
    assert sorted(cell.text for cell in highlighted) == ["in_failed", "in_other"]


async def test_an_operator_retries_books_manually_and_reconciles_the_month(database: str, browser: WebDriver) -> None:
    lexoffice = create_lexoffice_sandbox(api_keys=[API_KEY], burst=100_000)
    async with serve_in_background(lexoffice.app) as lexoffice_url:
        app = create_service_app(SERVICE, admin_settings(database, LEXOFFICE_API_BASE=lexoffice_url))
        async with serve_in_background(app) as url:
            pool = app.state.pool
            await failed_document(pool, "in_failed", "INV-3001")
            await failed_document(pool, "in_other", "INV-3002")
            await manual_document(pool, "in_usd", "INV-3003")

            # The browser blocks: it runs in a thread while this event loop serves the bridge.
            await asyncio.to_thread(operator_session, browser, url)

            assert (await kinds(pool, "in_failed"))[-1] == ("retry_requested", "erika")
            assert [kind for kind, _ in await kinds(pool, "in_usd")] == ["needs_manual_booking", "booked_manually"]
            effects = await statuses(pool)
            assert (effects["voucher:INV-3001"], effects["voucher:INV-3002"]) == ("queued", "dead")
