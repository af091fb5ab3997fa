"""The managers' page's reads: documents found by number, id, title word and counterpart; the
views of execution control; pages by cursor; the overview's counters; the charts' days.

The documents get there the way they do in the hub: accepted requests with cards, then the
recipients' execution notices (registered, executor assigned, executed) through the store.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from envelopes.model import DocumentCard, DocumentKind
from hub.abc import Stage, State
from hub.execution.notices import Actor, Notice
from hub.execution.policy import ExecutionPolicy
from hub.execution.settings import ExecutionConfig
from hub.records import DocumentQuery, Processed
from hub.store.base import Store
from tests.support.stores import StoreSpot

CULTURE, FINANCE, LAND = "dept.culture", "dept.finance", "dept.land"
POLICY = ExecutionPolicy.from_config(ExecutionConfig(), [CULTURE, FINANCE, LAND])
TODAY = POLICY.today()
DAY = dt.timedelta(days=1)


def _work(days: int) -> dt.date:
    """A deadline: the working day ``days`` from today, or the one before it."""
    return POLICY.calendar.previous_working_day(TODAY + days * DAY)


ROOF, HOLIDAYS, LEASE, SCHOOL = _work(5), _work(-3), _work(-10), _work(-1)


@dataclass
class City:
    store: Store
    ids: dict[str, str] = field(default_factory=dict)
    plain: list[str] = field(default_factory=list)  # incoming to culture, never registered


def _request(sender: str, recipient: str, title: str | None, number: str = "1") -> Processed:
    card = None
    if title is not None:
        card = DocumentCard(
            kind=DocumentKind.LETTER, title=title, number=number, date=TODAY - 2 * DAY
        )
    message_id = str(uuid.uuid4())
    SENDERS[message_id] = sender
    return Processed(
        message_id=message_id, state=State.ACCEPTED, envelope=b"<e/>", sender=sender,
        recipient=recipient, kind="request", digest=message_id, card=card,
    )  # fmt: skip


SENDERS: dict[str, str] = {}  # a notice goes to the document's sender


def _notice(document: str, department: str, stage: Stage, **facts: object) -> Processed:
    notice = Notice(
        document=document, stage=stage, department=department,
        at=POLICY.now(), person=Actor("Петров П.П."), **facts,  # type: ignore[arg-type]
    )  # fmt: skip
    message_id = str(uuid.uuid4())
    return Processed(
        message_id=message_id, state=State.ACCEPTED, envelope=b"<e/>", sender=department,
        recipient=SENDERS[document], kind="notice", digest=message_id, correlation_id=document,
        notice=notice,
    )  # fmt: skip


async def _ingest(store: Store, *items: Processed) -> None:
    none = [None] * len(items)
    await store.record_ingest(list(items), none, none)
    for p in items:
        assert p.state == State.ACCEPTED, (p.code, p.reasons)


async def _register(store: Store, doc: str, department: str, number: str) -> None:
    await store.record(doc, State.DELIVERED)
    await _ingest(
        store,
        _notice(
            doc,
            department,
            Stage.REGISTERED,
            number=number,
            date=TODAY - 20 * DAY,
            journal="incoming",
        ),
    )


async def _assign(store: Store, doc: str, department: str, executor: str, due: dt.date) -> None:
    facts = {"assignment": str(uuid.uuid4()), "executor": executor, "deadline": due}
    await _ingest(store, _notice(doc, department, Stage.EXECUTOR_ASSIGNED, **facts))


@pytest.fixture
async def city(store_spot: StoreSpot) -> AsyncIterator[City]:
    store = await store_spot.open(POLICY)
    c = City(store)
    roof = _request(FINANCE, CULTURE, "О ремонте кровли ДК «Октябрь»", "ФУ-01-123/26")
    holidays = _request(FINANCE, CULTURE, "О графике отпусков", "ФУ-01-99/26")
    roads = _request(CULTURE, LAND, "О РЕМОНТЕ дорог", "К-5/26")
    late = _request(LAND, CULTURE, "Об аренде участка", "З-7/26")
    elsewhere = _request(FINANCE, LAND, "О ремонте школы", "ФУ-01-124/26")
    await _ingest(store, roof, holidays, roads, late, elsewhere)
    c.ids = {p.card.title.split()[-1].strip("«»"): p.message_id for p in  # type: ignore[union-attr]
             (roof, holidays, roads, late, elsewhere)}  # fmt: skip
    for n in range(7):
        p = _request(LAND if n % 2 else FINANCE, CULTURE, None)
        await _ingest(store, p)
        c.plain.append(p.message_id)
    await _register(store, roof.message_id, CULTURE, "01-12/345")
    await _assign(store, roof.message_id, CULTURE, "Иванова А.А.", ROOF)
    await _register(store, holidays.message_id, CULTURE, "01-12/346")
    await _assign(store, holidays.message_id, CULTURE, "Орлов О.О.", HOLIDAYS)
    await _register(store, late.message_id, CULTURE, "01-12/347")
    await _assign(store, late.message_id, CULTURE, "Орлов О.О.", LEASE)
    await _ingest(store, _notice(late.message_id, CULTURE, Stage.REPORT_PREPARED, text="готово"))
    await _ingest(store, _notice(late.message_id, CULTURE, Stage.EXECUTED))
    await _register(store, elsewhere.message_id, LAND, "З-1/26")
    await _assign(store, elsewhere.message_id, LAND, "Земцов З.З.", SCHOOL)
    try:
        yield c
    finally:
        await store.close()


def _query(**facts: object) -> DocumentQuery:
    return DocumentQuery(today=TODAY, parties=(CULTURE,), due_until=TODAY + 7 * DAY, **facts)  # type: ignore[arg-type]


async def _found(city: City, **facts: object) -> list[str]:
    return [r.message_id for r in await city.store.search_documents(_query(**facts))]


async def test_a_department_sees_its_documents_both_ways_and_no_others(city: City) -> None:
    ids = city.ids
    every = await _found(city)
    assert set(every) == {ids["Октябрь"], ids["отпусков"], ids["дорог"], ids["участка"],
                          *city.plain}  # fmt: skip
    assert ids["школы"] not in every
    assert ids["дорог"] not in await _found(city, direction="incoming")
    assert await _found(city, direction="outgoing") == [ids["дорог"]]
    everyone = await city.store.search_documents(DocumentQuery(today=TODAY))
    assert ids["школы"] in [r.message_id for r in everyone]


async def test_the_views_of_execution_control(city: City) -> None:
    ids = city.ids
    # on control, the nearest deadline first
    assert await _found(city, view="on_control") == [ids["отпусков"], ids["Октябрь"]]
    assert await _found(city, view="due_soon") == [ids["Октябрь"]]
    overdue = await city.store.search_documents(_query(view="overdue"))
    days = (TODAY - HOLIDAYS).days
    assert [(r.message_id, r.overdue_days) for r in overdue] == [(ids["отпусков"], days)]
    assert overdue[0].executor == "Орлов О.О." and overdue[0].number == "01-12/346"
    assert overdue[0].card_number == "ФУ-01-99/26" and overdue[0].kind == "letter"
    assert await _found(city, view="executed") == [ids["участка"]]
    late = await city.store.search_documents(_query(view="executed_late"))
    assert [r.message_id for r in late] == [ids["участка"]]
    assert late[0].executed_on_time is False and late[0].overdue_days == 0
    unregistered = await _found(city, view="not_registered", direction="incoming")
    assert set(unregistered) == set(city.plain)
    assert set(await _found(city, executor="Орлов О.О.")) == {ids["участка"], ids["отпусков"]}


async def test_a_search_text_finds_numbers_ids_title_words_and_counterparts(city: City) -> None:
    ids = city.ids
    assert await _found(city, text="01-12/345") == [ids["Октябрь"]]
    assert set(await _found(city, text="01-12/34")) == {
        ids["Октябрь"], ids["отпусков"], ids["участка"]
    }  # fmt: skip
    assert await _found(city, text="ФУ-01-123/26") == [ids["Октябрь"]]  # the sender's number
    assert await _found(city, text=ids["отпусков"][:8]) == [ids["отпусков"]]
    assert await _found(city, text=ids["отпусков"].upper()) == [ids["отпусков"]]
    # title words: any case, a word's start, never another department's document
    assert set(await _found(city, text="ремонт")) == {ids["Октябрь"], ids["дорог"]}
    assert await _found(city, text="кровли октябрь") == [ids["Октябрь"]]
    assert await _found(city, text='"отпуск*(') == [ids["отпусков"]]  # no FTS syntax
    assert await _found(city, text="аренда") == []
    found = await _found(city, counterparts=(LAND,))
    assert set(found) == {ids["дорог"], ids["участка"], *city.plain[1::2]}
    assert await _found(city, text="нет такого") == []


@pytest.mark.parametrize("view", ["all", "not_registered", "on_control"])
async def test_pages_by_cursor_cover_the_list_once_in_order(city: City, view: str) -> None:
    whole = await city.store.search_documents(_query(view=view))
    query, seen = _query(view=view, limit=2), []
    while True:
        rows = await city.store.search_documents(query)
        seen += rows
        if len(rows) < 2:
            break
        query = query.following(rows[-1])
    assert [r.message_id for r in seen] == [r.message_id for r in whole]
    assert len(whole) >= 2


def test_a_cursor_of_another_view_is_refused() -> None:
    with pytest.raises(ValueError, match="cursor"):
        DocumentQuery(today=TODAY, view="overdue", after=("a", "b", "c"))
    with pytest.raises(ValueError, match="view"):
        DocumentQuery(today=TODAY, view="everything")


async def test_the_counters_match_the_views(city: City) -> None:
    counts = await city.store.document_counts((CULTURE,), TODAY, TODAY + 7 * DAY)
    assert (counts.on_control, counts.due_soon, counts.overdue) == (2, 1, 1)
    assert counts.executed_late == 1
    assert counts.not_registered == len(city.plain)  # incoming only: the road letter is outgoing
    everyone = await city.store.document_counts((), TODAY, TODAY + 7 * DAY)
    assert (everyone.on_control, everyone.overdue) == (3, 2)


async def test_the_charts_days_count_received_and_overdue(city: City) -> None:
    figures = await city.store.daily_figures((CULTURE,), TODAY - 16 * DAY, TODAY, POLICY.timezone)
    by_day = {f.day: f for f in figures}
    assert len(figures) == 17 and figures[0].day == TODAY - 16 * DAY
    assert by_day[TODAY].received == 4 + len(city.plain)  # both ways
    assert sum(f.received for f in figures) == by_day[TODAY].received
    # overdue at a day's end: the lease letter from the day after its deadline until it was
    # executed (today); the holiday schedule since the day after its deadline, still
    expected = [int(LEASE < f.day < TODAY) + int(f.day > HOLIDAYS) for f in figures]
    assert [f.overdue for f in figures] == expected
    assert max(expected) == 2 and expected[-1] == 1
