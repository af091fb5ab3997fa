"""``hub demo``: an embedded hub, three departments and sample traffic, shown as a table.

Everything runs in one process on a temporary deployment (``hub init``'s layout), so it needs
nothing but Python: it is the README's first command. It is a composition of the whole product
(the core, the SMEV adapter and its simulator, the MEDO adapter and its peer), the one module
of ``hub`` that names an adapter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from envelopes.codec import new_envelope, to_bytes
from envelopes.model import Attachment, DocumentCard, DocumentKind, Kind, Person, Urgency
from envelopes.parsing import parse_xml
from envelopes.signatures import Signer
from hub.abc import Stage
from hub.config import load_config
from hub.execution.report import render
from hub.ops.documents import NoticeRequest, build_notice, notice_envelope
from hub.ops.inbox import InboxItem, inbox
from hub.ops.reports import execution_summary
from hub.ops.trace import format_trace, trace
from hub.pipeline.hub import Hub
from hub.queues import INBOUND_QUEUE
from hub.scaffold import init_deployment, shipped

DEPARTMENTS = ["dept.finance", "dept.culture", "dept.land"]


@dataclass
class Sample:
    title: str
    body: bytes
    message_id: str


def _envelope(
    pki: Path,
    sender: str,
    recipient: str,
    payload: etree._Element,
    *,
    kind: Kind = Kind.REQUEST,
    correlation_id: uuid.UUID | None = None,
    attachments: list[Attachment] | None = None,
    sign_as: str | None = None,
    card: DocumentCard | None = None,
) -> tuple[str, bytes]:
    header, root = new_envelope(
        sender,
        recipient,
        payload,
        kind=kind,
        attachments=attachments,
        correlation_id=correlation_id,
        card=card,
    )
    message_id = header.message_id
    signer_id = sign_as or sender
    Signer.from_files(str(pki / f"{signer_id}.key.pem"), str(pki / f"{signer_id}.pem")).sign(root)
    return str(message_id), to_bytes(root)


def _samples(pki: Path) -> list[Sample]:
    examples = shipped("xsd") / "examples"
    memo = parse_xml((examples / "memo.xml").read_bytes())
    application = parse_xml((examples / "citizen-application.xml").read_bytes())
    notice = parse_xml((examples / "status-notification.xml").read_bytes())
    samples = []
    card = DocumentCard(
        kind=DocumentKind.LETTER,
        title="О ремонте кровли здания ДК «Октябрь»",
        number="ФУ-01-123/26",
        date=dt.date.today(),
        urgency=Urgency.OPERATIVE,
        signatory=Person(name="Петров П.П.", post="начальник финансового управления"),
    )
    memo_id, body = _envelope(pki, "dept.finance", "dept.culture", memo, card=card)
    samples.append(Sample("memo finance → culture", body, memo_id))
    scan = Attachment.from_bytes(
        "att-passport", "passport.pdf", "application/pdf", b"%PDF-1.4 " * 200
    )
    egrn = Attachment.from_bytes("att-egrn", "egrn.pdf", "application/pdf", b"%PDF-1.4 " * 100)
    plan = Attachment.from_bytes("att-scheme", "scheme.png", "image/png", b"\x89PNG" * 100)
    app_id, body = _envelope(
        pki, "dept.land", "dept.finance", application, attachments=[scan, egrn, plan]
    )
    samples.append(Sample("application with 3 attachments", body, app_id))
    reply_id, body = _envelope(
        pki,
        "dept.culture",
        "dept.finance",
        notice,
        kind=Kind.RESPONSE,
        correlation_id=uuid.UUID(memo_id),
    )
    samples.append(Sample("response to the memo", body, reply_id))
    forged_id, body = _envelope(pki, "dept.finance", "dept.land", memo)
    tampered = body.replace("арендной плате".encode(), "арендной плате (исправлено)".encode(), 1)
    assert tampered != body
    samples.append(Sample("tampered after signing", tampered, forged_id))
    impostor_id, body = _envelope(pki, "dept.finance", "dept.land", memo, sign_as="dept.culture")
    samples.append(Sample("signed by another department", body, impostor_id))
    unknown = etree.fromstring(b'<x:Order xmlns:x="urn:example:unknown"><x:N>1</x:N></x:Order>')
    unknown_id, body = _envelope(pki, "dept.land", "dept.culture", unknown)
    samples.append(Sample("unknown message type", body, unknown_id))
    extract = parse_xml((examples / "extract-request.xml").read_bytes())
    smev_id, body = _envelope(pki, "dept.land", "agency.rosreestr", extract)
    samples.append(Sample("extract request over SMEV 3", body, smev_id))
    return samples


SMEV_RULES = """\
# Requests to Rosreestr go over SMEV 3 (here: the built-in SMEV simulator).
rules:
  - name: rosreestr-over-smev
    priority: 100
    match:
      recipient: agency.rosreestr
    deliver:
      - adapter: smev
        address: ROSREESTR
"""


MEDO_PEER_UID = "0b6f5d2e-1c3a-4b7d-9e8f-a1b2c3d4e5f6"
MEDO_RULES = f"""\
# Official letters to the Ministry of Finance go by MEDO (here: the built-in MEDO peer).
rules:
  - name: ministry-over-medo
    priority: 100
    match:
      recipient: agency.minfin
    deliver:
      - adapter: medo
        address: "{MEDO_PEER_UID}"
"""


def _start_medo(directory: Path) -> tuple[object, str]:
    """The MEDO peer (a ministry) and the [adapters.medo] section on the folders it shares."""
    from adapters.medo.peer import Peer
    from adapters.smev.crypto.certificates import GostTrustStore
    from adapters.smev.crypto.dev_ca import issue_gost_certificate
    from adapters.smev.crypto.signers import GostSigner

    pki = directory / "pki-medo"
    key, cert = issue_gost_certificate("hub-medo", pki)
    peer_key, peer_cert = issue_gost_certificate("medo-peer", pki)
    medo = directory / "medo"
    peer = Peer(
        medo / "out",
        medo / "in",
        MEDO_PEER_UID,
        "Министерство финансов (демонстрация)",
        GostSigner.from_files(peer_key, peer_cert),
        GostTrustStore.from_files([pki / "ca-gost.pem"]),
    )
    section = f"""
[adapters.medo]
type = "medo"
uid = "{uuid.uuid5(uuid.NAMESPACE_URL, "urn:hub:demo:medo")}"
incoming = "medo/in"
outgoing = "medo/out"
quarantine = "medo/quarantine"
inbound_recipient = "dept.land"
key = "{key}"
cert = "{cert}"
trust = ["{pki / "ca-gost.pem"}"]
poll_interval = 0.1
settle_seconds = 0
"""
    participants = directory / "routing_rules" / "participants.yaml"
    text = participants.read_text("utf-8").replace(
        "participants: {}",
        "participants:\n  agency.minfin:\n    name: Министерство финансов\n    kind: agency\n"
        f'    medo_uid: "{MEDO_PEER_UID}"',
    )
    participants.write_text(text, "utf-8")
    (directory / "routing_rules" / "medo.yaml").write_text(MEDO_RULES, "utf-8")
    return peer, section


async def _medo_story(hub: Hub, pki: Path, peer: object) -> Story:
    """A city letter to the ministry goes by MEDO, is acknowledged, registered and answered."""
    from adapters.medo.peer import Peer

    assert isinstance(peer, Peer)
    card = DocumentCard(
        kind=DocumentKind.LETTER,
        title="О направлении сведений об исполнении бюджета",
        number="01-12/345",
        date=dt.date.today(),
        signatory=Person(name="Иванов И.И.", post="Глава администрации"),
    )
    letter = Attachment.from_bytes("letter", "Письмо.pdf", "application/pdf", b"%PDF-1.4\n")
    header, root = new_envelope(
        "dept.finance",
        "agency.minfin",
        parse_xml((shipped("xsd") / "examples" / "memo.xml").read_bytes()),
        kind=Kind.REQUEST,
        attachments=[letter],
        card=card,
        created=dt.datetime.now(dt.UTC),
    )
    Signer.from_files(str(pki / "dept.finance.key.pem"), str(pki / "dept.finance.pem")).sign(root)
    message_id = str(header.message_id)
    await hub.transport.publish(INBOUND_QUEUE, to_bytes(root), {"source": "demo"})
    sent = await _state(hub, message_id, {"delivered"})
    lines = [f"letter finance → ministry {message_id[:8]}: {sent}"]
    done: list[str] = []
    for _ in range(200):
        done += await asyncio.to_thread(peer.step)
        if any(line.startswith("registered") for line in done):
            break
        await asyncio.sleep(0.05)
    lines += [f"ministry: {line}" for line in done]
    state = await _state(hub, message_id, {"answered"})
    stages: list[str] = []
    for _ in range(200):
        stages = [f"{e.state}: {e.detail}" for e in await hub.store.timeline(message_id)]
        if any(s.startswith("executed") for s in stages):
            break
        await asyncio.sleep(0.05)
    lines += [s for s in stages if s.split(":")[0] in ("acknowledged", "registered",
              "executor_assigned", "executed") and "medo" in s]  # fmt: skip
    lines.append(f"letter finance → ministry: {state}")
    ok = state == "answered" and any(s.startswith("registered") for s in stages)
    return Story(lines, ok)


def _rosreestr(content: etree._Element, message_type: str) -> etree._Element | None:
    """The simulated Rosreestr answers every extract request with the sample extract."""
    if message_type.endswith("}ExtractRequest"):
        return parse_xml((shipped("xsd") / "examples" / "extract-response.xml").read_bytes())
    return None


async def _start_smev(directory: Path) -> tuple[object, str]:
    """The SMEV simulator and the [adapters.smev] section pointing at it."""
    from adapters.smev.crypto.dev_ca import issue_gost_certificate
    from adapters.smev.simulator import SmevSimulator

    gost = directory / "pki-gost"
    key, cert = issue_gost_certificate("hub-is", gost)
    sim = SmevSimulator(responder=_rosreestr, mnemonics={"hub-is": "HUB01"})
    await sim.start()
    assert sim.ca_pem is not None
    (gost / "smev-ca.pem").write_bytes(sim.ca_pem)
    section = f"""
[adapters.smev]
type = "smev"
url = "{sim.url}"
mnemonic = "HUB01"
key = "{key}"
cert = "{cert}"
trust = ["{gost / "smev-ca.pem"}"]
poll_min = 0.05
poll_max = 0.5
participants = {{ SIMAGENCY = "agency.rosreestr" }}
"""
    return sim, section


@dataclass
class Story:
    """What the execution part of the demo did, as lines to print, and whether it all held."""

    lines: list[str]
    ok: bool


async def _state(hub: Hub, message_id: str, wanted: set[str]) -> str:
    for _ in range(400):
        row = await hub.store.get_message(message_id)
        if row is not None and row.state in wanted:
            return row.state
        await asyncio.sleep(0.05)
    row = await hub.store.get_message(message_id)
    return row.state if row else "?"


async def _notice(
    hub: Hub, signer: Signer, document: str, request: NoticeRequest
) -> tuple[str, str]:
    """A department's notice, signed and submitted as ``hub doc`` does: (stage, outcome)."""
    prepared = await build_notice(hub.store, hub.policy, signer.participant_id, document, request)
    notice_id, body = notice_envelope(signer, prepared)
    await hub.transport.publish(INBOUND_QUEUE, body, {"source": "demo"})
    state = await _state(hub, notice_id, {"delivered", "rejected"})
    return request.stage.value, state


async def _execution_story(
    hub: Hub, pki: Path, memo: Sample, response: Sample, application: Sample
) -> Story:
    """The memo is registered, assigned, reported on, given more time, answered, executed and
    closed; the application is registered late and found overdue."""
    culture = Signer.from_files(str(pki / "dept.culture.key.pem"), str(pki / "dept.culture.pem"))
    finance = Signer.from_files(str(pki / "dept.finance.key.pem"), str(pki / "dept.finance.pem"))
    head = "Петров П.П."
    steps = [
        (culture, memo, NoticeRequest(Stage.REGISTERED, person="Сидорова А.А.")),
        (
            culture,
            memo,
            NoticeRequest(
                Stage.EXECUTOR_ASSIGNED,
                person=head,
                executor="Иванова А.А.",
                co_executors=["Орлов О.О."],
                text="Подготовить смету и ответ",
            ),
        ),
        (culture, memo, NoticeRequest(Stage.IN_PROGRESS, text="Запрошены сметы подрядчиков")),
    ]
    outcomes = [await _notice(hub, signer, doc.message_id, req) for signer, doc, req in steps]
    record = await hub.store.document(memo.message_id)
    deadline = record.state.deadline if record and record.state.deadline else dt.date.today()
    outcomes.append(
        await _notice(
            hub,
            culture,
            memo.message_id,
            NoticeRequest(
                Stage.DEADLINE_CHANGED,
                person=head,
                deadline=deadline + dt.timedelta(days=7),
                text="смета подрядчика не согласована",
            ),
        )
    )
    await hub.transport.publish(INBOUND_QUEUE, response.body, {"source": "demo"})
    await _state(hub, response.message_id, {"delivered", "acknowledged"})
    for request in (
        NoticeRequest(Stage.EXECUTED, answer=response.message_id, text="Смета направлена"),
        NoticeRequest(Stage.CONTROL_CLOSED, person=head),
    ):
        outcomes.append(await _notice(hub, culture, memo.message_id, request))
    # the application: registered six weeks late, due ten days ago, not executed
    calendar = hub.policy.calendar
    due = calendar.previous_working_day(hub.policy.today() - dt.timedelta(days=10))
    for request in (
        NoticeRequest(Stage.REGISTERED, number="Ф-77/26", date=due - dt.timedelta(days=30)),
        NoticeRequest(Stage.EXECUTOR_ASSIGNED, executor="Кузнецова К.К.", deadline=due),
    ):
        outcomes.append(await _notice(hub, finance, application.message_id, request))
    assert hub.control is not None
    await hub.control.scan()
    lines = [f"{stage:<22} {state}" for stage, state in outcomes]
    ok = all(state != "rejected" for _, state in outcomes)
    for sample in (memo, application):
        data = await trace(hub.config, sample.message_id)
        execution = (data or {}).get("execution") or {}
        lines.append(
            f"{sample.title}: {execution.get('stage')}, № "
            f"{(execution.get('registration') or {}).get('number')}, executor "
            f"{execution.get('executor')}, deadline {execution.get('deadline')}, overdue "
            f"{execution.get('overdue')}"
        )
        if sample is memo:
            ok = ok and execution.get("stage") == "control_closed"
        else:
            ok = ok and execution.get("overdue") is True
    return Story(lines, ok)


async def _run(directory: Path, serve: str | None = None) -> int:
    sim, smev_section = await _start_smev(directory)
    config_path = init_deployment(
        directory, DEPARTMENTS, metrics_address="127.0.0.1:0", api_address="127.0.0.1:0"
    )
    peer, medo_section = _start_medo(directory)
    config_path.write_text(config_path.read_text() + smev_section + medo_section)
    (directory / "routing_rules" / "smev.yaml").write_text(SMEV_RULES)
    config = load_config(config_path)
    config.workers = 1
    hub = Hub(config)
    await hub.start()
    try:
        samples = _samples(directory / "pki")
        memo, response = samples[0], samples[2]
        inboxes: dict[str, list[InboxItem]] = {d: [] for d in DEPARTMENTS}
        for sample in samples:
            if sample is not response:  # culture answers once it has read the memo
                await hub.transport.publish(INBOUND_QUEUE, sample.body, {"source": "demo"})
        for _ in range(600):
            row = await hub.store.get_message(memo.message_id)
            if row is not None and row.state == "delivered":
                break
            await asyncio.sleep(0.05)
        culture = directory / "inbox" / "dept.culture"
        inboxes["dept.culture"] += await inbox(config, "dept.culture", culture, None, 0.3)
        story = await _execution_story(hub, directory / "pki", memo, response, samples[1])
        states: dict[str, str] = {}
        smev = samples[-1].message_id
        for _ in range(600):
            for sample in samples:
                row = await hub.store.get_message(sample.message_id)
                if row is not None and row.state not in ("received",):
                    states[sample.message_id] = row.state
            if len(states) == len(samples) and states[smev] == "answered":
                break
            await asyncio.sleep(0.05)
        for department in DEPARTMENTS:
            folder = directory / "inbox" / department
            inboxes[department] += await inbox(config, department, folder, None, 0.3)
        print(f"Embedded hub {config.id} in {directory}\n")
        print(f"{'document':<32} {'message id':<10} {'from':<13} {'to':<17} state")
        print("-" * 90)
        for sample in samples:
            row = await hub.store.get_message(sample.message_id)
            state = row.state if row else "?"
            sender = row.sender if row else "?"
            recipient = row.recipient if row else "?"
            print(
                f"{sample.title:<32} {sample.message_id[:8]:<10} {sender:<13} {recipient:<17} "
                f"{state}"
            )
        print("\nInboxes (taken with `hub inbox`):")
        for department, items in inboxes.items():
            kinds: dict[str, int] = {}
            for item in items:
                kinds[item.kind] = kinds.get(item.kind, 0) + 1
            summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "empty"
            print(f"  {department:<13} {summary}")
        print("\nTraces (`hub trace ID`):")
        for sample in samples:
            data = await trace(config, sample.message_id)
            if data is not None:
                print(f"\n# {sample.title}")
                print(format_trace(data))
        print("\nExecution control (`hub doc …`, `hub report execution`):")
        for line in story.lines:
            print(f"  {line}")
        report = render(await execution_summary(hub.store, hub.policy, names=config.names), "table")
        print("\n" + report.decode())
        medo = await _medo_story(hub, directory / "pki", peer)
        print("\nMEDO (docs/medo-adapter.md): a letter to the ministry and its answer")
        for line in medo.lines:
            print(f"  {line}")
        api = await _api_story(hub, directory / "pki")
        print("HTTP API (docs/api.md):")
        for line in api.lines:
            print(f"  {line}")
        expected = {"delivered", "acknowledged", "answered"}
        ok = (
            story.ok
            and medo.ok
            and api.ok
            and (
                states.get(samples[0].message_id) == "answered"
                and states.get(samples[1].message_id) in expected
                and all(states.get(s.message_id) == "rejected" for s in samples[3:6])
                and states.get(smev) == "answered"
            )
        )
        print("\ndemo", "OK" if ok else "FAILED: see the traces above")
        if serve is not None and ok:
            await _serve(hub, serve)
        elif ok:
            print("To look at this traffic on the managers' page in a browser: hub demo --serve")
        return 0 if ok else 1
    finally:
        await hub.stop()
        await sim.stop()  # type: ignore[attr-defined]


async def _api_story(hub: Hub, pki: Path) -> Story:
    """The same hub over its HTTP API (docs/api.md): a department with a token submits, the
    recipient pulls its inbox under a lease and acknowledges, the sender follows the message."""
    import httpx

    from hub.api.server import ApiServer
    from hub.ops.tokens import Role, api_key, create_token

    hub.config.api.address = "127.0.0.1:0"
    logging.getLogger("hub.api").setLevel(logging.ERROR)  # the story says what is refused
    server = ApiServer(hub)
    await server.start()
    lines = [f"API at {server.url} (`hub serve` runs it; OpenAPI at /openapi.json)"]
    try:
        key = api_key(hub.config)
        tokens = {
            who: (await create_token(hub.store, key, who, Role.PARTICIPANT, label="demo"))[1]
            for who in ("dept.land", "dept.finance")
        }
        payload = parse_xml((shipped("xsd") / "examples" / "memo.xml").read_bytes())
        message_id, body = _envelope(pki, "dept.land", "dept.finance", payload)

        def client(who: str) -> httpx.AsyncClient:
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30)

        async with client("dept.land") as land, client("dept.finance") as finance:
            sent = await land.post(
                "/v1/envelopes?wait=10", content=body, headers={"Content-Type": "application/xml"}
            )
            lines.append(
                f"POST /v1/envelopes as dept.land → {sent.status_code} {sent.json()['state']}"
            )
            page = (await finance.get("/v1/inbox", params={"max": 10, "wait": 5})).json()
            taken = [i for i in page["items"] if i["message_id"] == message_id]
            for item in page["items"]:
                await finance.post(
                    f"/v1/inbox/{item['message_id']}/ack", params={"lease": item["lease"]["id"]}
                )
            lines.append(
                f"GET /v1/inbox as dept.finance → {len(page['items'])} item(s) under a lease, "
                "each acknowledged"
            )
            traced = (await land.get(f"/v1/messages/{message_id}")).json()
            lines.append(f"GET /v1/messages/{message_id[:8]}… as dept.land → {traced['state']}")
            foreign = await finance.post(
                "/v1/envelopes", content=body, headers={"Content-Type": "application/xml"}
            )
            lines.append(
                f"dept.finance submitting dept.land's envelope → {foreign.status_code} "
                f"{foreign.json()['code']}"
            )
        ok = (
            sent.status_code == 200
            and bool(taken)
            and traced["state"] == "acknowledged"
            and foreign.status_code == 403
        )
    finally:
        await server.stop()
    return Story(lines, ok)


DEMO_USERS = (
    ("head", "auditor", None, "Глава администрации"),
    ("culture", "manager", "dept.culture", "Петров П.П."),
    ("finance", "manager", "dept.finance", "Кузнецова К.К."),
    ("admin", "admin", None, "Администратор хаба"),
)


async def _serve(hub: Hub, address: str) -> None:
    """Keep the demo hub running with its API and the managers' page until Ctrl-C."""
    import secrets
    import signal

    from hub.api.server import ApiServer
    from hub.ops.users import create_user

    hub.config.api.address = address
    server = ApiServer(hub)
    await server.start()
    print(f"\nThe managers' page: {server.url}/ui/  (the API: {server.url}/docs)")
    print("Log in as (passwords made for this run only):")
    for name, role, department, display in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        await create_user(hub.store, name, role, password, department, display, "hub demo")
        scope = f", {hub.config.names.get(department, department)}" if department else ""
        print(f"  {name:<8} {password:<14} {role}{scope}")
    print("Ctrl-C stops the hub.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def run_demo(directory: Path | None = None, serve: str | None = None) -> int:
    """The demo; with ``serve`` (HOST:PORT) the hub stays up with the page until Ctrl-C."""
    if directory is not None:
        return asyncio.run(_run(directory, serve))
    with tempfile.TemporaryDirectory(prefix="hub-demo-") as tmp:
        return asyncio.run(_run(Path(tmp), serve))
