"""The managers' page over HTTP: logging in (and being locked out), CSRF, who sees what, the
words and dates, the summary's figures as the report has them, the administrators' actions."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest
from click.testing import CliRunner

from hub.cli import main
from tests.hub.harness import Deployment
from tests.hub.ui.site import MEMO_TITLE, PASSWORD, Site, city


class Browser:
    """An HTTP client that keeps cookies as a browser on localhost does (Secure included)."""

    def __init__(self, site: Site, language: str = "ru") -> None:
        self.site = site
        self.cookies: dict[str, str] = {}
        self.http = httpx.AsyncClient(
            base_url=site.url, headers={"Accept-Language": language}, timeout=30
        )

    async def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await self.http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
        for header in response.headers.get_list("set-cookie"):
            cookie = SimpleCookie(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value in ("", '""'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: object) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def log_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        form = await self.get("/ui/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text
        return await self.post(
            "/ui/login", data={"username": name, "password": password, "csrf": token.group(1),
                               "next": "/ui/"},
        )  # fmt: skip

    def csrf(self, html: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found, html[:500]
        return found.group(1)

    async def close(self) -> None:
        await self.http.aclose()


@pytest.fixture
async def site(deployment: Deployment) -> AsyncIterator[Site]:
    async with city(deployment) as built:
        yield built


async def test_pages_need_a_login_and_a_login_needs_the_right_password(site: Site) -> None:
    browser = Browser(site)
    first = await browser.get("/ui/documents?q=x")
    assert first.status_code == 303
    assert first.headers["location"] == "/ui/login?next=%2Fui%2Fdocuments%3Fq%3Dx"
    wrong = await browser.log_in("culture", "not the password")
    assert wrong.status_code == 401 and "Неверное имя пользователя или пароль" in wrong.text
    unknown = await browser.log_in("nobody", "whatever-password")
    assert unknown.status_code == 401 and "Неверное имя пользователя или пароль" in unknown.text
    ok = await browser.log_in("culture")
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/"
    cookie = ok.headers.get_list("set-cookie")
    session = next(c for c in cookie if c.startswith("hub_session="))
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/ui"):
        assert flag.lower() in session.lower(), session
    home = await browser.get("/ui/")
    assert home.status_code == 200 and "Управление культуры" in home.text
    assert home.headers["content-security-policy"].startswith("default-src 'self'")
    assert "Петров П.П." in home.text
    # logging out needs the page's CSRF token; then the session is gone
    refused = await browser.post("/ui/logout", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert (await browser.get("/ui/")).status_code == 200
    out = await browser.post("/ui/logout", data={"csrf": browser.csrf(home.text)})
    assert out.status_code == 303
    assert (await browser.get("/ui/")).status_code == 303
    await browser.close()


async def test_repeated_wrong_passwords_lock_the_user_out(site: Site) -> None:
    browser = Browser(site)
    limit = site.deployment.config.ui.lockout_failures
    for _ in range(limit):
        await browser.log_in("land", "wrong password!")
    locked = await browser.log_in("land")  # even the right one, while locked
    assert locked.status_code == 401 and "заблокирован до" in locked.text
    user = await site.hub.store.user("land")
    assert user is not None and user.locked_until is not None
    # the administrator sets a new password: unlocked
    runner = CliRunner()
    done = await asyncio.to_thread(  # the command runs its own event loop
        runner.invoke, main, ["users", "password", "land", "--password-stdin", "--config",
                              str(site.deployment.config_path)], input="a brand new secret\n",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert (await browser.log_in("land", "a brand new secret")).status_code == 303
    await browser.close()


async def test_a_login_form_from_elsewhere_is_refused(site: Site) -> None:
    browser = Browser(site)
    await browser.get("/ui/login")
    forged = await browser.post(
        "/ui/login", data={"username": "culture", "password": PASSWORD, "csrf": "from-elsewhere"}
    )
    assert forged.status_code == 403 and "hub_session" not in browser.cookies
    await browser.close()


async def test_a_manager_sees_its_department_only(site: Site) -> None:
    culture, land = Browser(site), Browser(site)
    await culture.log_in("culture")
    await land.log_in("land")
    page = await culture.get(f"/ui/documents/{site.memo}")
    assert (
        page.status_code == 200 and MEMO_TITLE.replace("«", "&laquo;") in page.text
    ) or MEMO_TITLE in page.text
    refused = await land.get(f"/ui/documents/{site.memo}")
    assert refused.status_code == 404 and MEMO_TITLE not in refused.text
    attachment = await land.get(f"/ui/documents/{site.memo}/attachments/0")
    assert attachment.status_code == 404
    mine = await land.get("/ui/documents")
    assert site.memo not in mine.text and site.late not in mine.text
    other_department = await land.get("/ui/documents?department=dept.culture")
    assert other_department.status_code == 403
    for browser in (culture, land):
        await browser.close()


async def test_the_document_page_says_it_in_plain_words(site: Site) -> None:
    browser = Browser(site)
    await browser.log_in("culture")
    memo = (await browser.get(f"/ui/documents/{site.memo}")).text
    assert f"Зарегистрирован № {site.memo_number} от " in memo
    assert "Назначен исполнитель Иванова А.А., срок " in memo
    assert "Доставлено: Управление культуры" in memo
    assert "Подпись отправителя (Финансовое управление) проверена, действительна" in memo
    assert re.search(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}", memo)  # 15.12.2026 14:05
    assert "Подпись хаба" in memo and "действительна" in memo
    late = (await browser.get(f"/ui/documents/{site.late}")).text
    assert re.search(r"Просрочен на \d+ (день|дня|дней)", late)
    assert "Зарегистрирован № К-77/26 от " in late
    # the same in English, on request
    english = Browser(site, language="en")
    await english.log_in("culture")
    memo_en = (await english.get(f"/ui/documents/{site.memo}")).text
    assert (
        f"Registered No. {site.memo_number} of " in memo_en
        and "Executor Иванова А.А. assigned" in memo_en
    )
    # and the switch, remembered
    switched = await browser.get("/ui/lang/en?next=/ui/")
    assert switched.status_code == 303
    assert "Overview" in (await browser.get("/ui/")).text
    for b in (browser, english):
        await b.close()


async def test_search_by_number_title_and_counterpart(site: Site) -> None:
    browser = Browser(site)
    await browser.log_in("culture")
    by_number = (await browser.get("/ui/documents", params={"q": site.memo_number})).text
    assert site.memo in by_number and site.late not in by_number
    by_card_number = (await browser.get("/ui/documents", params={"q": "ФУ-01-99/26"})).text
    assert site.late in by_card_number and site.memo not in by_card_number
    by_word = (await browser.get("/ui/documents", params={"q": "кровл"})).text
    assert site.memo in by_word and site.late not in by_word
    by_id = (await browser.get("/ui/documents", params={"q": site.late})).text
    assert site.late in by_id and site.memo not in by_id
    overdue = (await browser.get("/ui/documents", params={"view": "overdue"})).text
    assert site.late in overdue and site.memo not in overdue
    assert 'class="overdue"' in overdue
    await browser.close()


async def test_the_summary_has_the_reports_figures(site: Site) -> None:
    browser = Browser(site)
    await browser.log_in("head")
    page = (await browser.get("/ui/summary")).text
    runner = CliRunner()
    report = await asyncio.to_thread(  # the command runs its own event loop
        runner.invoke, main, ["report", "execution", "--format", "json", "--config",
                              str(site.deployment.config_path)],
    )  # fmt: skip
    assert report.exit_code == 0, report.stderr
    data = json.loads(report.stdout)
    culture = next(d for d in data["departments"] if d["department"] == "dept.culture")
    row = re.search(
        r"Управление культуры</a></th>\s*<td>(\d+)</td><td>(\d+)</td>\s*<td[^>]*><a[^>]*>(\d+)</a>",
        page,
    )
    assert row, page
    assert int(row.group(1)) == culture["total"]["on_control"] == 2
    assert int(row.group(3)) == culture["total"]["overdue"] == 1
    svg = await browser.get("/ui/charts/volume.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in svg.content and b"<script" not in svg.content
    xlsx = await browser.get("/ui/summary.xlsx")
    assert xlsx.content[:2] == b"PK"
    await browser.close()


async def test_administrators_replay_dead_letters_with_a_reason(site: Site) -> None:
    auditor, admin = Browser(site), Browser(site)
    await auditor.log_in("head")
    await admin.log_in("admin")
    seen = await auditor.get("/ui/admin")
    assert seen.status_code == 200 and site.lost[:8] in seen.text
    assert "Отправить снова" not in seen.text  # an auditor sees, does not act
    page = (await admin.get("/ui/admin")).text
    token = admin.csrf(page)
    path = f"/ui/admin/dead-letters/{site.lost}/replay"
    assert (
        await auditor.post(path, data={"csrf": auditor.csrf(seen.text), "reason": "x"})
    ).status_code == 403
    assert (await admin.post(path, data={"csrf": token, "reason": "  "})).status_code == 422
    assert (await admin.post(path, data={"csrf": "forged", "reason": "x"})).status_code == 403
    site.flaky.mode = "up"
    done = await admin.post(path, data={"csrf": token, "reason": "адресат снова доступен"})
    assert done.status_code == 303
    from tests.hub.harness import wait_for_state

    await wait_for_state(site.hub.store, site.lost, {"delivered"})
    entry = (await site.hub.store.audit_log())[0]
    assert (entry.action, entry.target, entry.reason) == (
        "dead_letter.replay",
        site.lost,
        "адресат снова доступен",
    )
    assert entry.actor == "admin (admin, session)"
    for b in (auditor, admin):
        await b.close()


async def test_live_counters_arrive_as_server_sent_events(site: Site) -> None:
    browser = Browser(site)
    await browser.log_in("culture")
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())}
    async with browser.http.stream("GET", "/ui/live", headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = []
        async for line in stream.aiter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break
    data = json.loads(lines[-1].removeprefix("data:"))
    assert data["counts"]["overdue"] == 1 and data["counts"]["on_control"] == 2
    await browser.close()
