"""The dashboard in headless Chromium against a real `syncd serve` and a simulator subprocess.

A person onboarding a customer signs in, adds a Buildium sandbox customer,
watches the data-access check, enables it, watches the first sync, clones
it, and approves a held deletion sweep. Live sections must update without
a reload: each wait checks that a marker set on the page survives.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from conftest import Served
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from support import with_store

MODELS = ("properties", "units", "residents", "leases", "leads", "employees")
#: The Buildium simulator's answer to refused credentials (Buildium's own words).
REFUSED = "The API client ID and secret were not provided or are not valid."


def wait(driver: WebDriver, check: Callable[[WebDriver], Any], timeout: float = 90) -> Any:
    """Until ``check`` is truthy (an element replaced mid-check counts as not yet)."""
    return WebDriverWait(
        driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    ).until(check)


def mark_page(driver: WebDriver) -> None:
    """Leave a marker a full page load would wipe out."""
    driver.execute_script("window.__noReload = true;")


def not_reloaded(driver: WebDriver) -> bool:
    """True while the page marked by :func:`mark_page` was not loaded again."""
    return bool(driver.execute_script("return window.__noReload === true;"))


def sign_in(driver: WebDriver, served: Served) -> None:
    driver.get(served.url + "/dashboard")
    assert "/dashboard/sign-in" in driver.current_url
    driver.find_element(By.ID, "api_key").send_keys(served.admin_key)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver, lambda d: d.find_elements(By.LINK_TEXT, "+ New customer"))


def unlabelled_controls(driver: WebDriver) -> list[str]:
    """Visible controls without an accessible name (as Chromium computes it)."""
    missing = []
    for el in driver.find_elements(By.CSS_SELECTOR, "input, select, textarea, button, a, summary"):
        if el.get_attribute("type") == "hidden" or not el.is_displayed():
            continue
        if not (el.accessible_name or "").strip():
            missing.append(el.get_attribute("outerHTML")[:120])
    return missing


def open_menu_and_click(driver: WebDriver, label: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "details.menu summary").click()
    menu = driver.find_element(By.CSS_SELECTOR, "details.menu .menu-items")
    menu.find_element(
        By.XPATH, f".//*[self::button or self::a][normalize-space()='{label}']"
    ).click()


def new_customer(
    driver: WebDriver, *, environment: str, name: str, creds: dict[str, str], base_url: str
) -> None:
    driver.find_element(By.LINK_TEXT, "Buildium").click()
    driver.find_element(By.LINK_TEXT, environment).click()
    wait(driver, lambda d: f"environment={environment.lower()}" in d.current_url)
    driver.find_element(By.LINK_TEXT, "+ New customer").click()
    wait(driver, lambda d: d.find_elements(By.ID, "credential_client_id"))
    assert unlabelled_controls(driver) == []
    # The form asks for exactly Buildium's credentials, with their labels.
    labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "fieldset label")]
    assert labels == ["Client ID", "Client secret"]
    assert driver.find_element(By.ID, "credential_client_secret").get_attribute("type") == (
        "password"
    )
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "credential_client_id").send_keys(creds["client_id"])
    driver.find_element(By.ID, "credential_client_secret").send_keys(creds["client_secret"])
    driver.find_element(By.XPATH, "//summary[normalize-space()='Advanced']").click()
    driver.find_element(By.ID, "base_url").send_keys(base_url)
    driver.find_element(By.XPATH, "//button[normalize-space()='Add customer']").click()
    wait(driver, lambda d: d.find_elements(By.ID, "data-access"))


def access_cells(driver: WebDriver) -> dict[tuple[str, str], str]:
    """(model, operation) → the cell's text, from the data access section."""
    cells = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#data-access tr[data-model]"):
        model = row.get_attribute("data-model")
        for cell in row.find_elements(By.CSS_SELECTOR, "td[data-operation]"):
            cells[(model, cell.get_attribute("data-operation"))] = cell.text
    return cells


def check_finished(driver: WebDriver) -> dict[tuple[str, str], str] | None:
    section = driver.find_element(By.ID, "data-access")
    if section.get_attribute("data-live") != "false":
        return None
    cells = access_cells(driver)
    if not cells or any(text.startswith("PROCESSING") for text in cells.values()):
        return None
    return cells


def job_rows(driver: WebDriver) -> dict[str, str]:
    return {
        row.get_attribute("data-model"): row.get_attribute("data-status")
        for row in driver.find_elements(By.CSS_SELECTOR, "#jobs tr[data-model]")
    }


def sim_delete(base_url: str, model: str, count: int) -> None:
    request = urllib.request.Request(
        base_url + "/_sim/mutate",
        data=json.dumps({"model": model, "delete": count}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


@pytest.mark.timeout(400)
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_onboard_a_buildium_sandbox_customer_enable_clone_and_approve_a_sweep(
    request: pytest.FixtureRequest,
    engine: str,
    chrome: WebDriver,
    serve: Callable[..., Served],
    sim_process: Callable[..., tuple[str, dict[str, str]]],
) -> None:
    database = request.getfixturevalue("pg_database_url") if engine == "postgresql" else None
    served = serve(database)
    sim_url, creds = sim_process(scale=30, seed=5)
    driver = chrome
    sign_in(driver, served)

    new_customer(driver, environment="Sandbox", name="Acme Homes", creds=creds, base_url=sim_url)
    assert driver.current_url.endswith("/dashboard/integrations/acme-homes")
    assert unlabelled_controls(driver) == []
    mark_page(driver)

    # The check started on arrival and shows its results as they come, in place.
    cells = wait(driver, check_finished)
    assert not_reloaded(driver)
    for model in MODELS:
        assert cells[(model, "read")] == "SUCCESS", cells
    assert cells[("leads", "create")] == "UNTESTED"
    # Times are the viewer's (New York), with UTC on hover.
    checked = driver.find_element(By.CSS_SELECTOR, "#data-access time")
    assert checked.get_attribute("title").endswith("UTC")
    assert "UTC" not in checked.text and ("EST" in checked.text or "EDT" in checked.text)

    # Enable: a sandbox's first sync starts, and the jobs fill in by themselves.
    open_menu_and_click(driver, "Enable")
    wait(driver, lambda d: "is enabled" in d.find_element(By.CSS_SELECTOR, ".notice").text)
    mark_page(driver)
    rows = wait(
        driver,
        lambda d: (
            (r := job_rows(d))
            and set(MODELS) <= set(r)
            and set(r.values()) == {"SUCCESS"}
            and "Success" in d.find_element(By.CSS_SELECTOR, "#jobs p").text
            and r
        ),
    )
    assert not_reloaded(driver), "the page was reloaded to show the sync"
    assert set(rows) == set(MODELS)
    processed = driver.find_element(By.CSS_SELECTOR, "#jobs tr[data-model=units] td.num").text
    assert int(processed.replace(",", "")) == 30
    # The synced properties appear once the sync ends, each with its switch: no reload.
    switches = wait(
        driver,
        lambda d: (
            len(s := d.find_elements(By.CSS_SELECTOR, "#properties button[role=switch]")) == 3 and s
        ),
    )
    assert not_reloaded(driver)
    assert all(s.get_attribute("aria-checked") == "true" for s in switches)
    switches[0].click()
    wait(
        driver,
        lambda d: (
            "is disabled: its cached data is kept"
            in d.find_element(By.CSS_SELECTOR, ".notice").text
        ),
    )
    switches = driver.find_elements(By.CSS_SELECTOR, "table button[role=switch]")
    assert [s.get_attribute("aria-checked") for s in switches] == ["false", "true", "true"]
    switches[0].click()
    wait(
        driver,
        lambda d: "is enabled: its data syncs" in d.find_element(By.CSS_SELECTOR, ".notice").text,
    )

    # The job tree and its errors are one click away.
    driver.find_element(By.LINK_TEXT, "job tree and errors").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "ol.tree li"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "ol.tree li")) == len(MODELS)
    driver.back()

    # Clone it for the next customer: same PMS and environment, its own credentials.
    configured = served.cli(
        "integrations", "config", "acme-homes",
        "--set", "enum_maps.lease_status.Pending=INACTIVE",
        "--set", "schedules.incremental={type: interval, seconds: 900}",
    )  # fmt: skip
    assert configured.returncode == 0, configured.stderr
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "details.menu summary"))
    open_menu_and_click(driver, "Clone customer")
    wait(driver, lambda d: d.find_elements(By.ID, "copied"))
    body = driver.find_element(By.TAG_NAME, "main").text
    assert "same PMS and environment" in body
    for copied in ("Schedules", "Enum maps", "Transform overrides", "Connector controls"):
        assert copied in body
    assert driver.find_element(By.ID, "credential_client_secret").get_attribute("value") == ""
    driver.find_element(By.ID, "name").send_keys("Birch Rentals")
    driver.find_element(By.ID, "credential_client_id").send_keys("birch-id")
    driver.find_element(By.ID, "credential_client_secret").send_keys("birch-secret")
    driver.find_element(By.XPATH, "//button[normalize-space()='Clone customer']").click()
    wait(driver, lambda d: d.current_url.endswith("/dashboard/integrations/birch-rentals"))

    key = served.env["SYNCD_SECRET_KEY"].encode()
    url = served.env["SYNCD_DATABASE_URL"]

    async def both(store: Any) -> tuple[Any, Any]:
        return await store.get_integration("acme-homes"), await store.get_integration(
            "birch-rentals"
        )

    source, clone = with_store(url, key, both)
    assert clone.vendor == source.vendor and clone.environment is source.environment
    assert clone.options["schedules"] == source.options["schedules"]
    assert (
        clone.options["enum_maps"]
        == source.options["enum_maps"]
        == {"lease_status": {"Pending": "INACTIVE"}}
    )
    assert clone.credentials == {"client_id": "birch-id", "client_secret": "birch-secret"}
    assert not clone.enabled and clone.base_url is None

    # A listing that lost a third of the units holds its sweep; approve it from the page.
    driver.get(served.url + "/dashboard/integrations/acme-homes")
    sim_delete(sim_url, "units", 10)
    open_menu_and_click(driver, "Back-sync")
    wait(
        driver,
        lambda d: "back-sync was requested" in d.find_element(By.CSS_SELECTOR, ".notice").text,
    )
    mark_page(driver)
    wait(driver, lambda d: job_rows(d).get("units") == "NEEDS_ATTENTION", timeout=120)
    # The held sweep shows up by itself once the back-sync ends.
    approve = wait(
        driver,
        lambda d: d.find_element(By.CSS_SELECTOR, "#sweeps").find_elements(
            By.CSS_SELECTOR, "button[aria-label='Approve the units sweep']"
        ),
    )[0]
    assert not_reloaded(driver)
    approve.click()
    notice = wait(
        driver,
        lambda d: (
            "sweep was approved" in (n := d.find_element(By.CSS_SELECTOR, ".notice")).text
            and n.text
        ),
    )
    assert "units sweep was approved: 10 records deleted" in notice
    assert (
        "No sweep is held."
        in driver.find_element(By.ID, "sweeps-heading").find_element(By.XPATH, "..").text
    )


def test_a_wrong_credential_shows_failed_with_the_pms_message(
    chrome: WebDriver,
    serve: Callable[..., Served],
    sim_process: Callable[..., tuple[str, dict[str, str]]],
) -> None:
    served = serve()
    sim_url, creds = sim_process(scale=10, seed=3)
    driver = chrome
    sign_in(driver, served)
    wrong = {**creds, "client_secret": "not-the-secret"}
    new_customer(driver, environment="Production", name="Wrong Co", creds=wrong, base_url=sim_url)
    mark_page(driver)
    cells = wait(driver, check_finished)
    assert not_reloaded(driver)
    for model in MODELS:
        status, _, message = cells[(model, "read")].partition("\n")
        assert status == "FAILED" and REFUSED in message, cells
    # Nothing was enabled: the state says so on the PMS's tab.
    driver.find_element(By.LINK_TEXT, "← Integrations").click()
    row = wait(driver, lambda d: d.find_element(By.XPATH, "//tr[td/a[text()='Wrong Co']]"))
    assert "Disabled" in row.text


def overflows(driver: WebDriver) -> bool:
    """Whether the page is wider than the viewport (a phone would scroll sideways)."""
    return bool(
        driver.execute_script(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth;"
        )
    )


def test_every_page_is_labelled_keyboard_usable_and_fits_a_phone(
    chrome: WebDriver,
    serve: Callable[..., Served],
    sim_process: Callable[..., tuple[str, dict[str, str]]],
) -> None:
    served = serve()
    sim_url, creds = sim_process(scale=10, seed=3)
    args = ["integrations", "add", "--vendor", "buildium", "--name", "Acme", "--base-url", sim_url]
    for key, value in creds.items():
        args += ["--credential", f"{key}={value}"]
    assert served.cli(*args).returncode == 0
    synced = served.cli("run", "--integration", "acme", "--json")
    assert synced.returncode == 0, synced.stderr
    root = json.loads(synced.stdout)["run_id"]
    driver = chrome
    sign_in(driver, served)
    pages = [
        "/dashboard/integrations?vendor=buildium&environment=production",
        "/dashboard/integrations/new?vendor=rentmanager&environment=sandbox",
        "/dashboard/integrations/acme",
        "/dashboard/integrations/acme/clone",
        f"/dashboard/runs/{root}",
        "/dashboard/webhooks",
        "/dashboard/webhooks/new",
    ]
    for width in (1280, 390):
        driver.set_window_size(width, 900)
        for path in pages:
            driver.get(served.url + path)
            assert driver.find_elements(By.TAG_NAME, "h1"), path
            assert unlabelled_controls(driver) == [], path
            assert not overflows(driver), (path, width)

    # The ⋯ menu opens and closes from the keyboard alone.
    driver.set_window_size(1280, 900)
    driver.get(served.url + "/dashboard/integrations/acme")
    summary = driver.find_element(By.CSS_SELECTOR, "details.menu summary")
    assert summary.accessible_name == "Actions for Acme"
    keyboard = ActionChains(driver)
    for _ in range(40):  # Tab until the menu has the focus, as a keyboard user would
        if driver.switch_to.active_element == summary:
            break
        keyboard.send_keys(Keys.TAB).perform()
    assert driver.switch_to.active_element == summary
    summary.send_keys(Keys.ENTER)
    menu = driver.find_element(By.CSS_SELECTOR, "details.menu")
    assert menu.get_attribute("open") is not None
    enable = menu.find_element(By.XPATH, ".//button[normalize-space()='Enable']")
    assert enable.is_displayed()
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert menu.get_attribute("open") is None
