"""The managers' page in a real browser: Debian's Chromium driven by Playwright (never a
browser download). Each test leaves screenshots in .ci/artifacts/ui/ (CI keeps that folder).

Runs on the embedded transport only: what is tested here is the page, and the pages' queries
are the same on every transport (tests/hub/ui/test_pages.py runs on both)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub.harness import make_deployment
from tests.hub.ui.site import LATE_TITLE, MEMO_TITLE, PASSWORD, Site, city

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[3] / ".ci" / "artifacts" / "ui"
pytestmark = pytest.mark.timeout(180)


def _need_chromium() -> None:
    if Path(CHROMIUM).exists() and shutil.which("chromium"):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with city(make_deployment(tmp_path / "deploy")) as built:
        yield built


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    _need_chromium()
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--lang=ru-RU"],  # a Russian clerk's browser
        )
        yield launched
        await launched.close()


async def new_page(browser: Any, site: Site, locale: str = "ru-RU", width: int = 1280) -> Any:
    context = await browser.new_context(
        locale=locale, viewport={"width": width, "height": 900}, base_url=site.url
    )
    return await context.new_page()


async def log_in(page: Any, name: str, password: str = PASSWORD) -> None:
    await page.goto("/ui/")
    await page.get_by_label(re.compile("Имя пользователя|User name")).fill(name)
    await page.get_by_label(re.compile("Пароль|Password")).fill(password)
    await page.get_by_role("button", name=re.compile("Вход|Log in")).click()
    await page.wait_for_url(re.compile(r"/ui/$"))


async def shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_log_in_and_see_the_overdue_document_highlighted(site: Site, browser: Any) -> None:
    page = await new_page(browser, site)
    await page.goto("/ui/")
    await shot(page, "01-login")
    await log_in(page, "culture")
    assert await page.get_by_role("heading", level=1).inner_text() == "Управление культуры"
    overdue_row = page.locator("#overdue-list tr.overdue", has_text=LATE_TITLE)
    await overdue_row.wait_for()
    assert re.search(r"Просрочен на \d+ (день|дня|дней)", await overdue_row.inner_text())
    background = await overdue_row.evaluate("row => getComputedStyle(row).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")  # highlighted
    assert await page.locator('[data-count="overdue"]').inner_text() == "1"
    await shot(page, "02-overview-overdue")


async def test_search_by_registration_number_and_read_the_timeline(
    site: Site, browser: Any
) -> None:
    page = await new_page(browser, site)
    await log_in(page, "culture")
    await page.get_by_label("Найти документ").fill(site.memo_number)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/ui/documents\?q="))
    await shot(page, "03-search-by-number")
    await page.get_by_role("link", name=MEMO_TITLE).click()
    await page.wait_for_url(re.compile(rf"/ui/documents/{site.memo}$"))
    timeline = page.locator(".timeline")
    text = await timeline.inner_text()
    order = [
        "Получен хабом",
        "Доставлено: Управление культуры",
        f"Зарегистрирован № {site.memo_number} от ",
        "Назначен исполнитель Иванова А.А., срок ",
    ]
    positions = [text.find(line) for line in order]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), text
    assert re.search(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}", text)
    assert (await page.locator("#registration").inner_text()).startswith(site.memo_number)
    await shot(page, "04-document-timeline")


async def test_another_departments_document_is_refused(site: Site, browser: Any) -> None:
    page = await new_page(browser, site)
    await log_in(page, "land")
    response = await page.goto(f"/ui/documents/{site.memo}")
    assert response.status == 404
    assert "Недоступно" in await page.get_by_role("heading", level=1).inner_text()
    assert MEMO_TITLE not in await page.content()
    await shot(page, "05-refused")


async def test_an_administrator_replays_a_dead_letter(site: Site, browser: Any) -> None:
    page = await new_page(browser, site)
    await log_in(page, "admin")
    await page.get_by_role("link", name="Администрирование").click()
    row = page.locator("#dead-letters tr", has_text=site.lost[:8])
    await row.wait_for()
    await shot(page, "06-admin-dead-letters")
    site.flaky.mode = "up"
    await row.get_by_label("Основание").first.fill("адресат снова доступен")
    await row.get_by_role("button", name="Отправить снова").click()
    await page.wait_for_url(re.compile(r"done=replay"))
    assert "отправлено повторно" in await page.get_by_role("status").inner_text()
    from tests.hub.harness import wait_for_state

    await wait_for_state(site.hub.store, site.lost, {"delivered"})
    assert "адресат снова доступен" in await page.locator("#audit").inner_text()
    await shot(page, "07-admin-replayed")


async def test_switch_language_and_a_phone_sized_screen(site: Site, browser: Any) -> None:
    page = await new_page(browser, site, width=375)
    await log_in(page, "culture")
    await page.get_by_role("link", name="English").click()
    await page.wait_for_load_state()
    assert await page.get_by_role("link", name="Documents").first.is_visible()
    assert "Overdue" in await page.locator("#overdue-h").inner_text()
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 375 + 1, f"the page is {wide} px wide on a 375 px screen"
    await shot(page, "08-english-phone")
    await page.get_by_role("link", name="Русский").click()
    await page.wait_for_load_state()
    assert "Просроченные" in await page.locator("#overdue-h").inner_text()


async def test_the_summary_and_its_charts(site: Site, browser: Any) -> None:
    page = await new_page(browser, site)
    await log_in(page, "head")
    await page.get_by_role("link", name="Сводка об исполнении").click()
    await page.wait_for_url(re.compile(r"/ui/summary"))
    image = page.locator('img[src="/ui/charts/volume.svg"]')
    assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
    await shot(page, "09-summary")
    await (
        page.get_by_role("row", name=re.compile("Управление культуры"))
        .get_by_role("link", name="1")
        .click()
    )
    await page.wait_for_url(re.compile(r"view=overdue"))
    assert LATE_TITLE in await page.locator("table.docs").inner_text()


async def test_the_keyboard_reaches_the_search_first(site: Site, browser: Any) -> None:
    page = await new_page(browser, site)
    await log_in(page, "culture")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Перейти к содержимому"
    labels = await page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden]), select')]"
        ".every(e => e.labels && e.labels.length > 0)"
    )
    assert labels, "every field has a label"
