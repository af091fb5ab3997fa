"""Routing rules as people ask about them: the versions applied, a check of the folder, how an
envelope would be routed (``hub routes``, and the administration endpoints of the API)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

from envelopes.codec import envelope_from_tree
from envelopes.errors import EnvelopeError
from envelopes.model import Envelope
from envelopes.parsing import ParseLimits, parse_xml
from hub.config import HubConfig
from hub.nodes import alive_within
from hub.ops.connection import opened_store
from hub.ops.dead_letters import operator
from hub.records import RulesVersion
from hub.routing import CheckReport, Explanation, RuleSet


async def rules_versions(config: HubConfig) -> list[RulesVersion]:
    """Oldest first, with what each changed."""
    async with opened_store(config) as store:
        return await store.rules_versions()


async def reload_nodes(
    config: HubConfig, wait: float, poll: float = 0.05, reason: str = ""
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Ask every hub node alive on the deployment's store to reload its rules now: (the nodes
    asked, the answers by node of those that answered within ``wait`` seconds)."""
    request_id = uuid.uuid4().hex
    loop = asyncio.get_running_loop()
    async with opened_store(config) as store:
        asked = sorted(await store.request_reload(request_id, alive_within()))  # stable output
        if asked:  # who asked and why, on the audit log (and so in the archive)
            await store.audit(
                operator(), "cli", "routes.reload", ",".join(asked), reason,
                json.dumps({"request": request_id}),
            )  # fmt: skip
        answers: dict[str, dict[str, Any]] = {}
        deadline = loop.time() + wait
        while len(answers) < len(asked) and loop.time() < deadline:
            await asyncio.sleep(poll)
            for node in await store.nodes(alive_within() + wait):
                if node.node in asked and node.reload_answered == request_id:
                    answers[node.node] = json.loads(node.reload_answer or "{}")
    return asked, answers


def check_json(report: CheckReport) -> dict[str, Any]:
    """What ``hub routes check --json`` prints."""
    rules = report.rules
    return {
        "directory": str(report.directory),
        "ok": report.ok,
        "version": rules.version if rules else None,
        "rules": [r.name for _, r in rules.rules] if rules else [],
        "errors": report.errors,
        "warnings": report.warnings,
    }


def signature_facts(
    config: HubConfig, root: Any, rules: RuleSet
) -> tuple[dict[str, Any], dict[str, Any], Envelope | None]:
    """Does the sender's signature verify, and is the certificate the registered one?"""
    from envelopes.pki import describe
    from envelopes.signatures import verify_sender
    from hub.trust import trust_store

    try:
        trust = trust_store(config)
        verified = verify_sender(root, trust, wrapper=config.id)
    except EnvelopeError as exc:
        detail = "; ".join(exc.problems)
        return {"verifies": False, "detail": detail}, {"checked": False}, None
    except OSError as exc:
        return {"verifies": False, "detail": f"cannot read the trust store: {exc}"}, {}, None
    signer = verified.signer_id
    signature = {
        "verifies": True,
        "signer": signer,
        "detail": f"signed by {signer} with {describe(verified.certificate)}",
    }
    problem = rules.check_certificate(signer, verified.certificate)
    if problem is not None:
        certificate: dict[str, Any] = {"checked": True, "registered": False, "detail": problem}
    elif rules.fingerprints.get(signer):
        certificate = {"checked": True, "registered": True, "detail": f"registered for {signer}"}
    else:
        certificate = {
            "checked": False,
            "registered": None,
            "detail": f"{signer} declares no certificates: any certificate from a trusted CA",
        }
    return signature, certificate, verified.envelope


def schema_facts(config: HubConfig, root: Any) -> dict[str, Any]:
    from hub.schemas import schema_registry

    try:
        schema_registry(config).validate_envelope(root)
    except EnvelopeError as exc:
        return {"valid": False, "detail": "; ".join(exc.problems)}
    except OSError as exc:
        return {"valid": False, "detail": f"cannot read the schemas: {exc}"}
    return {"valid": True, "detail": "valid"}


def explain(
    config: HubConfig, body: bytes, rules: RuleSet, rules_dir: str
) -> tuple[dict[str, Any], Explanation]:
    """How the hub would decide about an envelope, step by step, sending nothing
    (EnvelopeError if it cannot even be read)."""
    limits = ParseLimits(config.limits.max_bytes, config.limits.max_depth)
    root = parse_xml(body, limits)
    envelope = envelope_from_tree(root)
    schema = schema_facts(config, root)
    signature, certificate, verified = signature_facts(config, root, rules)
    if verified is not None:
        envelope = verified  # route what the signature covers, as the hub does
    header = envelope.header
    explanation = rules.explain(header, envelope.payload)
    decision = explanation.decision
    expired = header.expires_at is not None and header.expires_at <= dt.datetime.now(dt.UTC)
    delivers = not decision.rejected and bool(decision.destinations)
    ok = (
        delivers
        and schema["valid"]
        and signature["verifies"]
        and certificate.get("registered") is not False
        and not expired
    )
    if ok:
        outcome = "would be delivered"
    elif not schema["valid"] or not signature["verifies"]:
        outcome = "would be rejected before routing"
    elif certificate.get("registered") is False:
        outcome = "would be rejected: certificate_not_registered"
    elif expired:
        outcome = "would be expired"
    else:
        outcome = f"would be rejected: {decision.code}"
    data: dict[str, Any] = {
        "header": {
            "message_id": str(header.message_id),
            "sender": header.sender,
            "recipient": header.recipient,
            "message_type": header.message_type,
            "kind": header.kind.value,
            "priority": header.priority,
            "test": header.test,
            "expires_at": header.expires_at.isoformat() if header.expires_at else None,
        },
        "schema": schema,
        "signature": signature,
        "certificate": certificate,
        "expired": expired,
        "rules_dir": rules_dir,
        "rules_version": rules.version,
        "steps": [s.as_dict() for s in explanation.steps],
        "decision": decision.as_dict(),
        "outcome": outcome,
        "delivered": ok,
    }
    return data, explanation
