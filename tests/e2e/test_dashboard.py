"""The reporting dashboard in a real headless Chromium: its numbers are the API's, and follow the choices made."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, Page, async_playwright

from shared.events import AftercareOpened, serialize
from tests.builders import a_subject, an_admission, an_event
from tests.e2e.conftest import Suite, eventually
from tests.e2e.test_access import issue

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)"),
]
HUE = "46"  # Thành phố Huế: no other test writes there
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


def hue_wards() -> list[str]:
    from shared.units import wards_of

    return wards_of(HUE)[:2]


@pytest.fixture(scope="module")
async def hue_data(suite: Suite) -> dict[str, Any]:
    """A year of admissions in two wards of Huế, straight to the topics, and a target for one indicator."""
    first, second = hue_wards()
    plan = [
        (first, "compulsory", 12),
        (first, "voluntary_community", 7),
        (second, "compulsory", 11),
        (second, "methadone", 3),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=suite.infra.bootstrap_servers)
    await producer.start()
    try:
        for ward, modality, n in plan:
            for i in range(n):
                facility = "hue-cs1" if modality == "compulsory" else None
                admitted = an_admission(
                    unit=ward,
                    modality=modality,
                    admitted_on=date(2018, 1 + i % 12, 5),
                    facility_id=facility,
                    legal_basis="QĐ 1" if facility else None,
                )
                event = an_event(admitted, subject=a_subject())
                await producer.send(suite.topic("rehab.admitted"), serialize(event), key=event.subject.encode())
                opened = an_event(
                    AftercareOpened(episode_id=admitted.episode_id, opened_on=date(2018, 12, 1), unit=ward),
                    subject=event.subject,
                )
                await producer.send(
                    suite.topic("rehab.aftercare_opened"), serialize(opened), key=event.subject.encode()
                )
        await producer.flush()
    finally:
        await producer.stop()
    async with suite.client("reporting") as operator:
        target = {
            "indicator_id": "admissions.compulsory",
            "unit": HUE,
            "period": "2018",
            "value": 20,
            "source_document": "Kế hoạch số 43/KH-UBND",
        }
        assert (await operator.put("/v1/targets", json=target)).status_code in (200, 201)

        async def total() -> Any:
            r = await operator.get("/v1/indicators/admissions.total", params={"unit": HUE, "period": "2018"})
            return r.json()["value"]

        assert await eventually(total, 33) == 33
    token = (await issue(suite, "reporting", "hue-dolisa", [HUE]))["token"]
    return {"token": token, "wards": [first, second]}


async def api_table(suite: Suite, token: str, unit: str, period: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=suite.url("reporting"), headers={"Authorization": f"Bearer {token}"}) as c:
        response = await c.get("/v1/indicators", params={"unit": unit, "period": period})
    assert response.status_code == 200, response.text
    return {i["indicator_id"]: i for i in response.json()["indicators"]}


def vietnamese(value: int | float | None, percent: bool = False) -> str:
    """1801 -> '1.801', 240.13 -> '240,13%', as the page writes them."""
    if value is None:
        return "–"
    if percent:
        return f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") + "%"
    return f"{int(value):,}".replace(",", ".")


async def shown(page: Page, indicator: str, field: str) -> str:
    text = await page.text_content(f'tr[data-indicator="{indicator}"] td[data-field="{field}"]')
    return re.sub(r"\s+", " ", text or "").strip()


async def loaded(page: Page, unit: str, period: str) -> None:
    # a selector, not wait_for_function: the page's policy refuses the eval that a predicate in a string needs
    await page.wait_for_selector(f'body[data-loaded="{unit}|{period}"]', state="attached", timeout=30_000)


async def test_the_dashboard_shows_the_api_figures_and_follows_unit_and_period(
    suite: Suite, browser: Browser, hue_data: dict[str, Any], artifacts: Path
) -> None:
    token, (first, _) = hue_data["token"], hue_data["wards"]
    page = await browser.new_page(viewport={"width": 1300, "height": 1600})
    await page.goto(f"{suite.url('reporting')}/dashboard#token={token}")
    await page.select_option("#year", "2018")
    await loaded(page, HUE, "2018")

    expected = await api_table(suite, token, HUE, "2018")
    for indicator in ("admissions.total", "admissions.compulsory", "admissions.methadone", "aftercare_intake"):
        assert await shown(page, indicator, "value") == vietnamese(expected[indicator]["value"]), indicator
    compulsory = expected["admissions.compulsory"]
    assert compulsory["target"] == 20
    assert await shown(page, "admissions.compulsory", "achievement") == vietnamese(compulsory["achievement_pct"], True)
    assert "Kế hoạch số 43/KH-UBND" in (await page.text_content('tr[data-indicator="admissions.compulsory"]') or "")
    assert await page.locator("#target-chart svg").count() == 1
    assert await page.locator("#trend-chart rect").count() > 0
    await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

    await page.select_option("#ward", first)
    await loaded(page, first, "2018")
    ward = await api_table(suite, token, first, "2018")
    assert await shown(page, "admissions.total", "value") == vietnamese(ward["admissions.total"]["value"]) == "19"

    await page.select_option("#part", "-H1")
    await loaded(page, first, "2018-H1")
    half = await api_table(suite, token, first, "2018-H1")
    assert await shown(page, "admissions.compulsory", "value") == vietnamese(half["admissions.compulsory"]["value"])
    assert half["admissions.compulsory"]["value"] == 6
    await page.close()


async def test_a_reader_sees_only_its_jurisdiction(suite: Suite, browser: Browser, hue_data: dict[str, Any]) -> None:
    page = await browser.new_page()
    await page.goto(f"{suite.url('reporting')}/dashboard#token={hue_data['token']}")
    await page.wait_for_selector("#province option", state="attached")
    options = await page.locator("#province option").evaluate_all("(os) => os.map((o) => o.value)")
    assert options == [HUE]
    await page.close()
    refused = await browser.new_page()  # a fresh tab: a changed #fragment alone does not reload the page
    await refused.goto(f"{suite.url('reporting')}/dashboard#token=not-a-token")
    await refused.wait_for_selector("#login:not([hidden])")
    assert "không hợp lệ" in (await refused.text_content("#status") or "")
    await refused.close()


#: Markup as an agency allowed to set a target could write it: each would make an element, run script or both.
MARKUP = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    '"><svg onload="window.__pwned=3">',
    '<iframe srcdoc="<script>parent.__pwned=4</script>"></iframe>',
]
#: What the page must not hold: an element from the markup, or any element that runs script on an event.
PLANTED = "img, iframe, script:not([src]), svg[onload], [onerror], [onload]"


async def test_markup_in_the_data_is_shown_as_text_and_runs_nothing(
    suite: Suite, browser: Browser, hue_data: dict[str, Any]
) -> None:
    async with suite.client("reporting") as operator:
        for indicator, markup in zip(
            ("admissions.methadone", "admissions.voluntary_community"), MARKUP[:2], strict=True
        ):
            target = {"indicator_id": indicator, "unit": HUE, "period": "2018", "value": 5, "source_document": markup}
            assert (await operator.put("/v1/targets", json=target)).status_code in (200, 201)
        target = {"indicator_id": "admissions.total", "unit": HUE, "period": "2018", "value": 40}
        put = await operator.put("/v1/targets", json=target | {"source_document": "".join(MARKUP[2:])})
        assert put.status_code in (200, 201)
    page = await browser.new_page()
    await page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective));"
    )
    answer = await page.goto(f"{suite.url('reporting')}/dashboard#token={hue_data['token']}")
    assert answer is not None
    policy = answer.headers.get("content-security-policy", "")
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in policy, policy
    assert "unsafe-inline" not in policy and answer.headers.get("x-content-type-options") == "nosniff"

    await page.select_option("#year", "2018")
    await loaded(page, HUE, "2018")
    assert await page.locator("#indicators tbody tr").count() > 10
    assert await page.locator("#census tbody tr").count() == 7
    assert await page.locator("#target-chart svg rect").count() >= 3
    assert await page.locator("#trend-chart rect").count() > 0
    header = await page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
    assert header == "rgb(31, 111, 139)"  # the page's own style block is allowed by its hash
    methadone = await page.text_content('tr[data-indicator="admissions.methadone"] .sentence') or ""
    total = await page.text_content('tr[data-indicator="admissions.total"] .sentence') or ""
    assert MARKUP[0] in methadone and "".join(MARKUP[2:]) in total  # shown as the agency wrote it

    await page.fill("#custom", MARKUP[0])  # what a reader types reaches the page back in the error it causes
    await page.click("#controls button[type=submit]")
    await page.wait_for_selector("#status.error")
    assert await page.locator(PLANTED).count() == 0
    assert await page.evaluate("window.__pwned") is None
    assert await page.evaluate("window.__violations") == []  # the page needs nothing its policy refuses
    assert await page.evaluate("sessionStorage.length + localStorage.length") == 0  # the token is in no storage
    await page.close()


async def test_a_reload_asks_for_the_token_again(suite: Suite, browser: Browser, hue_data: dict[str, Any]) -> None:
    page = await browser.new_page()
    await page.goto(f"{suite.url('reporting')}/dashboard")
    await page.fill("#token", hue_data["token"])
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#choose:not([hidden])")
    await page.reload()
    await page.wait_for_selector("#login:not([hidden])")
    assert "dán lại mã" in (await page.text_content("#login") or "")
    await page.close()
