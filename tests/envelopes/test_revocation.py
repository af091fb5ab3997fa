"""Revocation: CRLs the certificates name or the hub is given, fetched over HTTP, cached and
refreshed; OCSP; what happens when nobody can say (fail closed unless told otherwise); the
development CA's `hub keys revoke`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from envelopes.errors import CertificateRevokedError, RevocationUnknownError
from envelopes.pki import (
    TrustStore,
    ensure_ca,
    issue_certificate,
    load_certificate,
    new_participant,
    publish_crl,
)
from envelopes.revocation import RevocationChecker
from hub.cli import main
from tests.support.pki_servers import folder_server, ocsp_responder


def revoke(folder: Path, participant: str, *extra: str) -> str:
    result = CliRunner().invoke(main, ["keys", "revoke", participant, "--out", str(folder), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_certificate_its_crl_lists_is_refused_naming_serial_and_date(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    with folder_server(folder) as server:
        crl_url = f"{server.url}/ca.crl"
        new_participant("dept.finance", folder, crl_url=crl_url)
        new_participant("dept.culture", folder, crl_url=crl_url)
        publish_crl(folder)  # an empty CRL: nobody revoked yet
        checker = RevocationChecker(cache_dir=tmp_path / "cache")
        trust = TrustStore.from_pem_files([folder / "ca.pem"], checker)
        finance = load_certificate(folder / "dept.finance.pem")
        culture = load_certificate(folder / "dept.culture.pem")
        trust.check(finance)
        trust.check(culture)
        assert server.requests == 1  # one CRL for both, cached

        output = revoke(folder, "dept.finance", "--reason", "key_compromise")
        assert f"revoked serial {finance.serial_number:x}" in output
        # a fresh checker (the next worker process, or the next refresh) sees it
        fresh = TrustStore.from_pem_files([folder / "ca.pem"], RevocationChecker())
        with pytest.raises(CertificateRevokedError) as caught:
            fresh.check(finance)
        fresh.check(culture)  # the other one is still good
    error = caught.value
    assert error.code == "certificate_revoked"
    assert error.serial == f"{finance.serial_number:x}"
    assert f"serial {finance.serial_number:x}" in str(error)
    assert error.revoked_at.isoformat(timespec="seconds") in str(error)
    assert "key_compromise" in str(error)
    assert abs(error.revoked_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_the_crl_is_refreshed_after_its_interval_and_kept_on_disk(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    with folder_server(folder) as server:
        new_participant("dept.finance", folder, crl_url=f"{server.url}/ca.crl")
        publish_crl(folder)
        cert = load_certificate(folder / "dept.finance.pem")
        checker = RevocationChecker(refresh=3600, cache_dir=tmp_path / "cache")
        trust = TrustStore.from_pem_files([folder / "ca.pem"], checker)
        trust.check(cert)
        revoke(folder, "dept.finance")
        trust.check(cert)  # within the refresh interval: the cached CRL, no fetch
        assert server.requests == 1
        checker.refresh = 0.001  # the interval has passed: fetched again, now revoked
        with pytest.raises(CertificateRevokedError):
            trust.check(cert)
        assert server.requests == 2
        server.down = True
        # another process (a worker, a restart) with the same cache folder: no fetch needed
        other = RevocationChecker(cache_dir=tmp_path / "cache")
        with pytest.raises(CertificateRevokedError):
            TrustStore.from_pem_files([folder / "ca.pem"], other).check(cert)


def test_no_crl_to_be_had_fails_closed_unless_configured_otherwise(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    with folder_server(folder) as server:
        new_participant("dept.finance", folder, crl_url=f"{server.url}/ca.crl")
        cert = load_certificate(folder / "dept.finance.pem")
        server.down = True
        closed = TrustStore.from_pem_files([folder / "ca.pem"], RevocationChecker())
        with pytest.raises(RevocationUnknownError) as caught:
            closed.check(cert)
        assert caught.value.code == "certificate_revocation_unknown"
        assert f"{server.url}/ca.crl" in str(caught.value) and "503" in str(caught.value)
        opened = RevocationChecker(on_unavailable="accept")
        TrustStore.from_pem_files([folder / "ca.pem"], opened).check(cert)  # let through
        # the server comes back with a CRL that has passed its nextUpdate: stale is unknown
        server.down = False
        publish_crl(folder, days=-0.001)
        with pytest.raises(RevocationUnknownError, match="stale"):
            TrustStore.from_pem_files([folder / "ca.pem"], RevocationChecker()).check(cert)


def test_a_crl_signed_by_another_key_counts_for_nothing(tmp_path: Path) -> None:
    folder, forger = tmp_path / "pki", tmp_path / "forger"
    with folder_server(forger) as server:
        new_participant("dept.finance", folder, crl_url=f"{server.url}/ca.crl")
        cert = load_certificate(folder / "dept.finance.pem")
        # a look-alike CA (same name, other key) publishes an empty CRL
        _, ca_cert = ensure_ca(folder)
        forged_key = ec.generate_private_key(ec.SECP256R1())
        forger.mkdir()
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(dt.datetime.now(dt.UTC))
            .next_update(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
            .sign(forged_key, hashes.SHA256())
        )
        (forger / "ca.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
        with pytest.raises(RevocationUnknownError, match="not signed by"):
            TrustStore.from_pem_files([folder / "ca.pem"], RevocationChecker()).check(cert)


def test_configured_crl_urls_cover_certificates_that_name_none(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    with folder_server(folder) as server:
        new_participant("dept.finance", folder)  # no distribution point in it
        cert = load_certificate(folder / "dept.finance.pem")
        publish_crl(folder, cert)
        unchecked = TrustStore.from_pem_files([folder / "ca.pem"], RevocationChecker())
        unchecked.check(cert)  # nowhere to ask: not checked ...
        required = RevocationChecker(require=True)
        with pytest.raises(RevocationUnknownError, match="no CRL distribution point"):
            TrustStore.from_pem_files([folder / "ca.pem"], required).check(cert)  # ... unless
        configured = RevocationChecker(crl_urls=[f"{server.url}/ca.crl"])
        with pytest.raises(CertificateRevokedError):
            TrustStore.from_pem_files([folder / "ca.pem"], configured).check(cert)


def test_ocsp_good_revoked_and_forged_answers(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    ca_key, ca_cert = ensure_ca(folder)
    with ocsp_responder(ca_key, ca_cert) as responder:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = issue_certificate(
            "dept.finance", ca_key, ca_cert, key.public_key(), ocsp_url=responder.url
        )
        cached = TrustStore.from_pem_files([folder / "ca.pem"], RevocationChecker())
        cached.check(cert)  # good, from the responder the certificate names
        cached.check(cert)  # a good answer is kept until its nextUpdate (at most `refresh`)
        assert responder.requests == 1
        trust = TrustStore.from_pem_files([folder / "ca.pem"], RevocationChecker(refresh=1e-6))
        when = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
        responder.revoked[cert.serial_number] = when
        with pytest.raises(CertificateRevokedError, match="2026-11-30T10:00:00") as caught:
            trust.check(cert)
        assert caught.value.revoked_at == when
        responder.revoked.clear()
        responder.sign_with = ec.generate_private_key(ec.SECP256R1())  # not the CA's key
        with pytest.raises(RevocationUnknownError, match="not signed by the issuer"):
            trust.check(cert)
        # a configured responder is asked for certificates that name none
        plain = issue_certificate("dept.culture", ca_key, ca_cert, key.public_key())
        responder.sign_with = None
        responder.revoked[plain.serial_number] = when
        configured = RevocationChecker(ocsp_url=responder.url)
        with pytest.raises(CertificateRevokedError):
            TrustStore.from_pem_files([folder / "ca.pem"], configured).check(plain)


def test_keys_revoke_keeps_earlier_entries_and_refuses_unknown_participants(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pki"
    for who in ("dept.finance", "dept.culture"):
        new_participant(who, folder)
    revoke(folder, "dept.finance")
    again = revoke(folder, "dept.finance")  # the same date: revoking is not repeated
    revoke(folder, "dept.culture")
    crl = x509.load_der_x509_crl((folder / "ca.crl").read_bytes())
    serials = {e.serial_number for e in crl}
    assert serials == {
        load_certificate(folder / f"{w}.pem").serial_number
        for w in ("dept.finance", "dept.culture")
    }
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 3
    assert "revoked serial" in again
    missing = CliRunner().invoke(main, ["keys", "revoke", "dept.land", "--out", str(folder)])
    assert missing.exit_code == 1 and "no certificate for dept.land" in missing.output
