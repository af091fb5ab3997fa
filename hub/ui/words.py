"""A document's timeline in plain words: "Доставлено: Отдел культуры", "Зарегистрирован
№ 01-12/345 от 02.12.2026", "Назначен исполнитель Иванова А.А., срок 15.12.2026", "Просрочен
на 3 дня".

The transport's events say where the message went; the execution events are the departments'
signed notices, read back from the notices themselves (their facts, not the log line written
for people reading English); the hub's own (reminders, overdue) from the document's record.
"""

from __future__ import annotations

import datetime as dt
import gettext
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hub.execution.notices import Notice
from hub.ui.i18n import Formats

NOTICE_ID = re.compile(r"\(notice ([0-9a-f-]{36})\)")


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: str
    kind: str  # transport | execution
    state: str
    text: str
    tone: str  # ok | info | warn | bad
    by: str = ""  # who acted (a person of a department)
    detail: str = ""  # the log line as recorded, for the curious


class Words:
    """Sentences in one language, with participants named as the administration names them."""

    def __init__(
        self, t: gettext.GNUTranslations, formats: Formats, names: Mapping[str, str]
    ) -> None:
        self._ = t.gettext
        self.n_ = t.ngettext
        self.f = formats
        self.names = names

    def name(self, participant: str | None) -> str:
        if not participant:
            return "—"
        return self.names.get(participant, participant)

    def days(self, count: int) -> str:
        return self.n_("%(num)d day", "%(num)d days", count) % {"num": count}

    def overdue_by(self, deadline: dt.date, today: dt.date) -> str:
        return self.overdue_for((today - deadline).days)

    def overdue_for(self, days: int) -> str:
        return self._("Overdue by %(days)s") % {"days": self.days(days)}

    def kind(self, kind: str) -> str:
        labels: dict[str, Callable[[], str]] = {
            "letter": lambda: self._("letter"),
            "order": lambda: self._("order"),
            "resolution": lambda: self._("resolution"),
            "directive": lambda: self._("directive"),
            "application": lambda: self._("application"),
            "request": lambda: self._("request"),
            "appeal": lambda: self._("appeal"),
            "complaint": lambda: self._("complaint"),
            "report": lambda: self._("report"),
            "act": lambda: self._("act"),
            "contract": lambda: self._("contract"),
            "protocol": lambda: self._("protocol"),
            "memo": lambda: self._("memo"),
            "other": lambda: self._("other"),
        }
        return labels.get(kind, lambda: kind)()

    def urgency(self, urgency: str | None) -> str:
        labels: dict[str | None, Callable[[], str]] = {
            "normal": lambda: self._("normal"),
            "operative": lambda: self._("operative"),
            "urgent": lambda: self._("urgent"),
        }
        return labels.get(urgency, lambda: urgency or "—")()

    def breaker(self, state: str) -> str:
        labels: dict[str, Callable[[], str]] = {
            "closed": lambda: self._("working"),
            "half_open": lambda: self._("trying again"),
            "open": lambda: self._("cut off"),
        }
        return labels.get(state, lambda: state)()

    def view(self, view: str) -> str:
        labels: dict[str, Callable[[], str]] = {
            "all": lambda: self._("all documents"),
            "on_control": lambda: self._("on control"),
            "due_soon": lambda: self._("due soon"),
            "overdue": lambda: self._("overdue"),
            "executed_late": lambda: self._("executed late"),
            "executed": lambda: self._("executed"),
            "not_registered": lambda: self._("not registered"),
        }
        return labels.get(view, lambda: view)()

    def role(self, role: str) -> str:
        labels: dict[str, Callable[[], str]] = {
            "manager": lambda: self._("manager"),
            "admin": lambda: self._("administrator"),
            "auditor": lambda: self._("auditor"),
        }
        return labels.get(role, lambda: role)()

    # ------------------------------------------------------------------ stages and states
    def stage(self, stage: str | None) -> str:
        labels: dict[str | None, Callable[[], str]] = {
            None: lambda: self._("not registered yet"),
            "registered": lambda: self._("registered"),
            "registration_refused": lambda: self._("registration refused"),
            "executor_assigned": lambda: self._("executor assigned"),
            "deadline_changed": lambda: self._("deadline changed"),
            "in_progress": lambda: self._("in progress"),
            "report_prepared": lambda: self._("report prepared"),
            "executed": lambda: self._("executed"),
            "control_closed": lambda: self._("off control"),
            "due_soon": lambda: self._("due soon"),
            "overdue": lambda: self._("overdue"),
        }
        return labels.get(stage, lambda: str(stage))()

    def state(self, state: str) -> str:
        labels: dict[str, Callable[[], str]] = {
            "received": lambda: self._("received"),
            "accepted": lambda: self._("accepted"),
            "rejected": lambda: self._("rejected"),
            "routed": lambda: self._("routed"),
            "delivering": lambda: self._("being delivered"),
            "delivered": lambda: self._("delivered"),
            "acknowledged": lambda: self._("taken by the recipient"),
            "answered": lambda: self._("answered"),
            "retry_scheduled": lambda: self._("delivery to be retried"),
            "failed": lambda: self._("delivery failed"),
            "dead_lettered": lambda: self._("not delivered (dead letter)"),
            "expired": lambda: self._("expired"),
            "replayed": lambda: self._("sent again"),
            "discarded": lambda: self._("given up"),
        }
        return labels.get(state, lambda: state)()

    # ------------------------------------------------------------------ one event
    def transport(self, state: str, at: str, detail: str) -> Entry:
        _ = self._
        text, tone = self.state(state).capitalize(), "info"
        if state == "received":
            text = _("Received by the hub")
        elif state == "accepted":
            signer = detail.removeprefix("signed by ").split(" ")[0] if detail else ""
            text = _("Signature of %(sender)s checked and valid") % {"sender": self.name(signer)}
            tone = "ok"
        elif state == "routed":
            found = re.search(r"→ (.+)$", detail)
            where = found.group(1) if found else ""
            text = (
                _("Routed to %(where)s") % {"where": self._destinations(where)}
                if where
                else _("Kept by the hub: the sender follows it here")
            )
        elif state == "delivered":
            text = _("Delivered to %(where)s") % {"where": self._destinations(detail)}
            tone = "ok"
        elif state == "acknowledged":
            taker = detail.removeprefix("taken by ")
            text = _("Taken from the inbox by %(who)s") % {"who": self.name(taker)}
            tone = "ok"
        elif state == "answered":
            text = _("Answered")
            tone = "ok"
        elif state == "rejected":
            text = _("Rejected: %(why)s") % {"why": detail}
            tone = "bad"
        elif state in ("failed", "dead_lettered", "expired"):
            text = f"{self.state(state).capitalize()}: {detail}" if detail else text
            tone = "bad"
        elif state in ("retry_scheduled", "replayed", "discarded"):
            text = f"{self.state(state).capitalize()}: {detail}" if detail else text
            tone = "warn"
        return Entry(at, "transport", state, text, tone, detail=detail)

    def execution(self, state: str, at: str, detail: str, notice: Notice | None) -> Entry:
        _ = self._
        by = ""
        if notice is not None:
            person = notice.person.name if notice.person else ""
            by = f"{self.name(notice.department)}" + (f", {person}" if person else "")
        text, tone = self.stage(state).capitalize(), "info"
        n = notice
        if state == "registered" and n is not None:
            text = _("Registered No. %(number)s of %(date)s") % {
                "number": n.number or "",
                "date": self.f.date(n.date),
            }
            tone = "ok"
        elif state == "registration_refused" and n is not None:
            text = _("Registration refused: %(reason)s") % {
                "reason": self.refusal(n.reason.value if n.reason else "other")
                + (f" — {n.text}" if n.text else "")
            }
            tone = "bad"
        elif state == "executor_assigned" and n is not None:
            text = _("Executor %(executor)s assigned, deadline %(deadline)s") % {
                "executor": n.executor or "",
                "deadline": self.f.date(n.deadline),
            }
            if n.co_executors:
                text += "; " + _("co-executors: %(names)s") % {"names": ", ".join(n.co_executors)}
            if n.text:
                text += f". {n.text}"
        elif state == "deadline_changed" and n is not None:
            text = _("Deadline moved from %(old)s to %(new)s: %(why)s") % {
                "old": self.f.date(n.old_deadline),
                "new": self.f.date(n.deadline),
                "why": n.text or "",
            }
            tone = "warn"
        elif state in ("in_progress", "report_prepared") and n is not None:
            text = f"{self.stage(state).capitalize()}: {n.text}" if n.text else text
        elif state == "executed" and n is not None:
            text = _("Executed") + (f": {n.text}" if n.text else "")
            if n.answer:
                text += " " + _("(the answer was sent)")
            tone = "ok"
        elif state == "control_closed":
            text = _("Taken off control")
            tone = "ok"
        elif state == "due_soon":
            text = _("Reminder: the deadline is near") + (f" ({detail})" if detail else "")
            tone = "warn"
        elif state == "overdue":
            found = re.search(r"deadline (\d{4}-\d{2}-\d{2})", detail)
            deadline = self.f.date(found.group(1)) if found else ""
            text = _("Overdue: the deadline %(deadline)s passed") % {"deadline": deadline}
            tone = "bad"
        return Entry(at, "execution", state, text, tone, by=by, detail=detail)

    def refusal(self, reason: str) -> str:
        labels: dict[str, Callable[[], str]] = {
            "not_to_be_registered": lambda: self._("not to be registered"),
            "wrong_addressee": lambda: self._("wrong addressee"),
            "no_signature": lambda: self._("no signature"),
            "illegible": lambda: self._("illegible"),
            "incomplete": lambda: self._("incomplete"),
            "duplicate": lambda: self._("a duplicate"),
            "other": lambda: self._("other reasons"),
        }
        return labels.get(reason, lambda: reason)()

    def _destinations(self, text: str) -> str:
        """``internal:dept.culture, smev:…`` → the participants' names (adapter kept for others)."""
        out = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            adapter, _, address = part.partition(":")
            out.append(self.name(address) if adapter == "internal" else f"{address} ({adapter})")
        return ", ".join(out)
