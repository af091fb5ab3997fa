"""Registered certificates, and the processor's use of them, of access rights and of XPath."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from hub.abc import State
from hub.pipeline.processor import Processor
from hub.routing import load_rules
from tests.conftest import Pki

from .conftest import MEMO_NS, Deployment, write


def _sha256(cert_path: Path) -> str:
    from envelopes.pki import load_certificate

    der = load_certificate(cert_path).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def test_check_certificate(rules_dir: Path, pki: Pki) -> None:
    finance = pki["dept.finance"]
    fingerprint = _sha256(pki["dept.property"].cert_path)
    write(
        rules_dir,
        "participants.yaml",
        f"""
        participants:
          dept.finance:
            certificates:
              - pem: {finance.cert_path}
          dept.property:
            certificates:
              - sha256: "{":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()}"
          agency.tax: {{name: Tax service}}
        """,
    )
    rules = load_rules(rules_dir)
    assert rules.sources == (str(finance.cert_path.resolve()),)
    assert rules.check_certificate("dept.finance", finance.cert) is None
    der = finance.cert.public_bytes(serialization.Encoding.DER)
    assert rules.check_certificate("dept.finance", der) is None
    assert rules.check_certificate("dept.property", pki["dept.property"].cert) is None
    # a certificate the trusted CA issued for dept.finance, but not the registered one
    assert pki.expired is not None
    reason = rules.check_certificate("dept.finance", pki.expired.cert)
    assert reason is not None
    assert "is not registered for dept.finance" in reason
    assert f"{rules_dir / 'participants.yaml'}:2 declares 1 other certificate" in reason
    # declared without certificates, or not declared at all: any trusted certificate
    assert rules.check_certificate("agency.tax", pki["agency.tax"].cert) is None
    assert rules.check_certificate("dept.nobody", pki["agency.tax"].cert) is None


def test_version_follows_the_certificate_file(rules_dir: Path, tmp_path: Path, pki: Pki) -> None:
    pem = tmp_path / "finance.pem"
    pem.write_bytes(pki["dept.finance"].cert_path.read_bytes())
    write(
        rules_dir,
        "participants.yaml",
        "participants: {dept.finance: {certificates: [{pem: ../finance.pem}]}}",
    )
    first = load_rules(rules_dir)
    assert pki.expired is not None
    pem.write_bytes(pki.expired.cert_path.read_bytes())
    second = load_rules(rules_dir)
    assert second.version != first.version
    assert second.check_certificate("dept.finance", pki["dept.finance"].cert) is not None


def test_processor_refuses_an_unregistered_certificate(deployment: Deployment) -> None:
    write(
        deployment.rules,
        "participants.yaml",
        """
        participants:
          dept.finance:
            certificates: [{pem: ../pki/dept.finance.pem}]
          dept.culture:
            certificates: [{sha256: "%s"}]
        groups:
          departments: {members: ['dept.*']}
          agencies: {members: ['agency.*']}
        """
        % ("ab" * 32),
    )
    rules = load_rules(deployment.rules)
    processor = Processor(deployment.config)
    _, good = deployment.envelope("dept.finance", "dept.culture")
    accepted = processor.process(good, rules)
    assert accepted.state == State.ACCEPTED, accepted.reasons
    _, bad = deployment.envelope("dept.culture", "dept.finance")
    refused = processor.process(bad, rules)
    assert refused.state == State.REJECTED
    assert refused.code == "certificate_not_registered"
    assert "is not registered for dept.culture" in refused.reasons[0]
    assert refused.receipt is not None and b"certificate_not_registered" in refused.receipt
    assert not refused.outgoing


def test_processor_access_denied_and_xpath(deployment: Deployment) -> None:
    write(
        deployment.rules,
        "default.yaml",
        f"""
        rules:
          - name: urgent-copy-to-land
            priority: 10
            match:
              xpath: "m:Urgency = 'urgent'"
              namespaces: {{m: "{MEMO_NS}"}}
            deliver:
              - {{adapter: internal, address: "{{recipient}}"}}
              - {{adapter: internal, address: dept.land}}
          - name: departments-internal
            match: {{recipient: "@departments"}}
            deliver: [{{adapter: internal, address: "{{recipient}}"}}]
        """,
    )
    write(
        deployment.rules,
        "access.yaml",
        """
        access:
          rights:
            - {name: finance-only, senders: dept.finance, recipients: '@departments'}
        """,
    )
    rules = load_rules(deployment.rules)
    processor = Processor(deployment.config)
    _, urgent = deployment.envelope("dept.finance", "dept.culture")
    fanned = processor.process(urgent, rules)
    assert fanned.state == State.ACCEPTED and fanned.rule == "urgent-copy-to-land"
    assert [(o.adapter, o.address) for o in fanned.outgoing] == [
        ("internal", "dept.culture"),
        ("internal", "dept.land"),
    ]
    _, denied = deployment.envelope("dept.land", "dept.culture")
    refused = processor.process(denied, rules)
    assert refused.state == State.REJECTED and refused.code == "access_denied"
    assert refused.rule == "urgent-copy-to-land"
    assert "no access right lets dept.land send" in refused.reasons[0]
