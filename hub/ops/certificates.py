"""Participants' certificates and when they expire (``/v1/me``, the administration pages).

A participant's certificate is ``<pki folder>/<id>.pem`` next to the hub's own (as ``hub init``
and ``hub keys new`` write them), and any PEM file the routing rules register for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from hub.config import HubConfig

if TYPE_CHECKING:
    from hub.routing import RuleSet


def certificate_facts(path: Path, base: Path) -> list[dict[str, Any]]:
    """Each certificate in a PEM file: file, subject, serial, not_after, days_left."""
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return []
    try:
        label = str(path.relative_to(base))
    except ValueError:
        label = str(path)
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "file": label,
            "subject": cert.subject.rfc4514_string(),
            "serial": f"{cert.serial_number:x}",
            "not_after": cert.not_valid_after_utc.isoformat(),
            "days_left": round((cert.not_valid_after_utc - now).total_seconds() / 86400, 1),
        }
        for cert in certificates
    ]


def certificate_paths(
    config: HubConfig, participant: str, rules_dir: Path | None = None
) -> list[Path]:
    """Where a participant's certificates are: the PKI folder, and PEMs the rules name."""
    paths = [config.path(config.pki.cert).parent / f"{participant}.pem"]
    if rules_dir is not None:
        from hub.routing import load_rules

        try:
            rules = load_rules(rules_dir)
        except Exception:  # the rules in force are checked elsewhere; show what is on disk
            return [p for p in paths if p.is_file()]
        declared = rules.participants.get(participant)
        for ref in declared.certificates if declared else []:
            if ref.pem:
                path = Path(ref.pem)
                paths.append(path if path.is_absolute() else rules_dir / path)
    return [p for p in dict.fromkeys(paths) if p.is_file()]


def certificates_of(config: HubConfig, participant: str) -> list[dict[str, Any]]:
    rules_dir = config.path(config.paths.routing_rules)
    facts: list[dict[str, Any]] = []
    for path in certificate_paths(config, participant, rules_dir):
        facts += certificate_facts(path, config.base_dir)
    return facts


def participants_of(config: HubConfig, rules: RuleSet) -> list[dict[str, Any]]:
    """Departments and the participants the rules declare, with their groups and certificates
    (expiry included): what the API's and the page's administrators see. Reads files."""
    rules_dir = config.path(config.paths.routing_rules)
    out = []
    for name in sorted(set(config.departments) | set(rules.participants)):
        facts = []
        for path in certificate_paths(config, name, rules_dir):
            facts += certificate_facts(path, config.base_dir)
        out.append(
            {
                "participant": name,
                "department": name in config.departments,
                "groups": sorted(g for g, m in rules.groups.items() if name in m.members),
                "certificates": facts,
                "registered_fingerprints": len(rules.fingerprints.get(name, ())),
            }
        )
    return out


EXPIRY_WARNING_DAYS = 30  # `hub status` and the alerts: renew now (7 days: urgent)
EXPIRY_URGENT_DAYS = 7


def expiring_certificates(
    config: HubConfig, within: float = EXPIRY_WARNING_DAYS
) -> list[dict[str, Any]]:
    """Certificates that expire within ``within`` days (or have): the hub's own, the trusted
    CAs, and every participant's the deployment knows (the PKI folder, the rules' PEMs);
    soonest first."""
    rules_dir = config.path(config.paths.routing_rules)
    paths = [config.path(config.pki.cert), *(config.path(p) for p in config.pki.trust)]
    participants = set(config.departments)
    with contextlib.suppress(Exception):  # rules that do not load: the files on disk only
        from hub.routing import load_rules

        participants |= set(load_rules(rules_dir).participants)
    for name in sorted(participants):
        paths += certificate_paths(config, name, rules_dir)
    facts: list[dict[str, Any]] = []
    for path in dict.fromkeys(paths):
        facts += certificate_facts(path, config.base_dir)
    soon = [f for f in facts if f["days_left"] < within]
    return sorted(soon, key=lambda f: f["days_left"])
