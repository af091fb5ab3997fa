"""``hub doc``: a department reports what it did with a document, as a signed notice.

Each command signs an execution notice with ``--key``/``--cert`` (the certificate's participant
is the acting department), submits it through the hub and prints ``<notice-message-id> <state>``.
Exit 0 accepted, 1 rejected (the reason on stderr, naming the rule), 2 usage error. Worked-out
defaults (a number from the journal, a deadline from the urgency, a deadline moved off a
non-working day) are printed on stderr as ``note:`` lines.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

import click

from hub.cli.support import (
    Rejected,
    api_rejected,
    config_option,
    deployment_config,
    remote_client,
    remote_options,
)
from hub.execution.notices import RefusalReason

ACCEPTED_EXIT, REJECTED_EXIT = 0, 1


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every ``hub doc`` command takes."""
    for option in reversed(
        [
            click.argument("document_id"),
            click.option(
                "--key",
                required=True,
                type=click.Path(dir_okay=False, exists=True),
                help="the department's signing key",
            ),
            click.option(
                "--cert",
                required=True,
                type=click.Path(dir_okay=False, exists=True),
                help="its certificate (its participant acts)",
            ),
            config_option,
            click.option("--person", help="who acts, as written (e.g. Иванова А.А.)"),
            click.option("--post", help="the acting person's post"),
            click.option(
                "--wait",
                type=float,
                default=10.0,
                show_default=True,
                help="seconds to wait for the hub's decision",
            ),
        ]
    ):
        command = option(command)
    return remote_options(command)


def _date(_: click.Context, __: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _send(stage: str, document_id: str, options: dict[str, Any], **fields: Any) -> None:
    from envelopes.errors import EnvelopeError
    from envelopes.signatures import Signer
    from hub.abc import Stage
    from hub.execution.policy import ExecutionPolicy
    from hub.ops.connection import connect
    from hub.ops.documents import NoticeRequest, send_notice

    try:
        signer = Signer.from_files(options["key"], options["cert"])
    except (EnvelopeError, ValueError) as exc:
        raise Rejected([f"{options['key']}: cannot load the key or certificate ({exc})"]) from None
    if not signer.participant_id:
        raise Rejected([f"{options['cert']}: names no participant (SAN urn:hub:participant:…)"])
    if options.get("url"):
        result, notes = _send_remote(stage, document_id, signer, options, fields)
    else:
        config = deployment_config(options["config_path"])
        request = NoticeRequest(
            Stage(stage), person=options.get("person"), post=options.get("post"), **fields
        )
        policy = ExecutionPolicy.from_config(config.execution, config.departments)

        async def run() -> Any:
            async with connect(config) as (store, transport):
                return await send_notice(
                    store, transport, policy, signer, document_id, request, options["wait"]
                )

        result, notes = asyncio.run(run())
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"{result.message_id} {result.state}")
    if result.state == "rejected":
        for line in (result.reason or "").splitlines():
            click.echo(f"rejected: {result.message_id}: {line}", err=True)
        sys.exit(REJECTED_EXIT)


def _send_remote(
    stage: str, document_id: str, signer: Any, options: dict[str, Any], fields: dict[str, Any]
) -> tuple[Any, list[str]]:
    """Over the API: the hub drafts the notice, the department signs and submits it."""
    from envelopes.parsing import parse_xml
    from hub.api.models import NoticeRequestIn
    from hub.errors import ApiError
    from hub.ops.documents import signed_notice
    from hub.ops.submit import SendResult

    values = {k: (v.value if hasattr(v, "value") else v) for k, v in fields.items()}
    request = NoticeRequestIn(
        stage=stage, person=options.get("person"), post=options.get("post"), **values
    )
    with remote_client(options["url"], options["token"], options["ca_file"]) as client:
        try:
            draft = client.draft_notice(document_id, request)
            _, body = signed_notice(
                signer, draft.recipient, parse_xml(draft.payload.encode()), document_id
            )
            submitted = client.submit(body, options["wait"])
        except ApiError as exc:
            if exc.status in (404, 409, 422):  # the hub refused the notice before signing
                why = "\n".join(f"{exc.code}: {p}" for p in exc.problems)
                return SendResult("-", "rejected", why), []
            raise api_rejected(exc) from None
    reason = "\n".join(f"{r.code}: {r.text}" for r in submitted.reasons) or None
    return SendResult(submitted.message_id, submitted.state, reason), draft.notes


def _options(**values: Any) -> dict[str, Any]:
    keys = ("key", "cert", "config_path", "person", "post", "wait", "url", "token", "ca_file")
    return {k: values[k] for k in keys}


@click.group()
def doc() -> None:
    """Execution control: register, assign, report, execute documents (signed notices)."""


@doc.command("register")
@_common
@click.option("--number", help="the department's own number (default: the journal's next)")
@click.option("--journal", help="the registration journal (default: the department's)")
def register(document_id: str, number: str | None, journal: str | None, **options: Any) -> None:
    """Register DOCUMENT_ID in a journal."""
    _send("registered", document_id, _options(**options), number=number, journal=journal)


REASONS = tuple(reason.value for reason in RefusalReason)


@doc.command("refuse")
@_common
@click.option("--reason", required=True, type=click.Choice(REASONS), help="why, from the list")
@click.option("--text", help="more words on why")
def refuse(document_id: str, reason: str, text: str | None, **options: Any) -> None:
    """Refuse to register DOCUMENT_ID, with a reason."""
    from hub.execution.notices import RefusalReason

    _send(
        "registration_refused",
        document_id,
        _options(**options),
        reason=RefusalReason(reason),
        text=text,
    )


@doc.command("assign")
@_common
@click.option("--executor", required=True, help="the responsible executor (e.g. Сидоров С.С.)")
@click.option("--co-executor", "co_executors", multiple=True, help="a co-executor (repeatable)")
@click.option("--deadline", callback=_date, help="YYYY-MM-DD (default: from the urgency)")
@click.option(
    "--urgency",
    type=click.Choice(["urgent", "operative", "normal"]),
    help="urgent 3, operative 10, normal 30 days from registration (default: the card's)",
)
@click.option("--parent", help="split this assignment further (its id, see hub trace --json)")
@click.option("--text", help="the resolution's text")
def assign(
    document_id: str,
    executor: str,
    co_executors: tuple[str, ...],
    deadline: dt.date | None,
    urgency: str | None,
    parent: str | None,
    text: str | None,
    **options: Any,
) -> None:
    """Assign DOCUMENT_ID to an executor with a deadline (a resolution)."""
    from envelopes.model import Urgency

    if deadline is not None and urgency is not None:
        raise click.UsageError("give --deadline or --urgency, not both")
    _send(
        "executor_assigned",
        document_id,
        _options(**options),
        executor=executor,
        co_executors=list(co_executors),
        deadline=deadline,
        urgency=Urgency(urgency) if urgency else None,
        parent=parent,
        text=text,
    )


@doc.command("progress")
@_common
@click.option("--text", required=True, help="what has been done (an interim report)")
@click.option("--assignment", help="which assignment (default: the resolution)")
def progress(document_id: str, text: str, assignment: str | None, **options: Any) -> None:
    """Report progress on DOCUMENT_ID (it stays on control)."""
    _send("in_progress", document_id, _options(**options), text=text, assignment=assignment)


@doc.command("report")
@_common
@click.option("--text", required=True, help="the execution report")
def report(document_id: str, text: str, **options: Any) -> None:
    """The execution report on DOCUMENT_ID is prepared."""
    _send("report_prepared", document_id, _options(**options), text=text)


@doc.command("extend")
@_common
@click.option("--deadline", required=True, callback=_date, help="the new deadline, YYYY-MM-DD")
@click.option("--reason", required=True, help="why it moves")
@click.option("--assignment", help="which assignment (default: the resolution)")
def extend(
    document_id: str, deadline: dt.date, reason: str, assignment: str | None, **options: Any
) -> None:
    """Move a deadline of DOCUMENT_ID (only whoever set it may)."""
    _send(
        "deadline_changed",
        document_id,
        _options(**options),
        deadline=deadline,
        text=reason,
        assignment=assignment,
    )


@doc.command("execute")
@_common
@click.option("--answer", help="the MessageId of the response sent as the answer")
@click.option("--text", help="the execution report")
def execute(document_id: str, answer: str | None, text: str | None, **options: Any) -> None:
    """DOCUMENT_ID is executed: with the answer sent, or an execution report."""
    _send("executed", document_id, _options(**options), answer=answer, text=text)


@doc.command("close")
@_common
def close(document_id: str, **options: Any) -> None:
    """Take DOCUMENT_ID off control (after its execution)."""
    _send("control_closed", document_id, _options(**options))
