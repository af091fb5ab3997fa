"""HTTPS with client certificates: the certificate's participant (its SAN URI, as in envelopes)
is the caller; a certificate of another participant gets nothing of the first one's."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from envelopes.pki import load_certificate, load_private_key, new_participant
from tests.hub.api.support import Api, serving_api
from tests.hub.harness import Deployment, running_hub

XML = {"Content-Type": "application/xml"}


def server_certificate(pki: Path) -> tuple[Path, Path]:
    """A TLS server certificate for 127.0.0.1 from the deployment's CA."""
    ca_key, ca_cert = load_private_key(pki / "ca.key.pem"), load_certificate(pki / "ca.pem")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_path, cert_path = pki / "api-server.key.pem", pki / "api-server.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


@pytest.fixture
async def tls_api(deployment: Deployment) -> Api:  # type: ignore[misc]
    cert, key = server_certificate(deployment.pki)
    settings = deployment.config.api
    settings.tls_cert, settings.tls_key = cert, key
    settings.client_ca = deployment.pki / "ca.pem"
    async with running_hub(deployment) as hub, serving_api(hub, deployment) as api:
        yield api


def client(api: Api, participant: str | None, token: str | None = None) -> httpx.AsyncClient:
    pki = api.deployment.pki
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if participant is not None:
        context.load_cert_chain(pki / f"{participant}.pem", pki / f"{participant}.key.pem")
    headers = {"Authorization": f"Bearer {api.tokens[token]}"} if token else {}
    return httpx.AsyncClient(base_url=api.url, verify=context, headers=headers)


async def test_a_client_certificate_names_the_caller(tls_api: Api) -> None:
    api = tls_api
    assert api.url.startswith("https://127.0.0.1:")
    async with client(api, "dept.finance") as http:
        me = (await http.get("/v1/me")).json()
        assert (me["participant"], me["role"], me["via"]) == (
            "dept.finance",
            "participant",
            "certificate",
        )
        message_id, body = api.deployment.envelope("dept.finance", "dept.culture")
        submitted = await http.post("/v1/envelopes?wait=10", content=body, headers=XML)
        assert submitted.status_code == 200 and submitted.json()["state"] != "rejected"
        # an administrator's endpoint: a certificate alone is a participant's
        assert (await http.get("/v1/admin/status")).status_code == 403
    # the certificate of another participant: not finance's envelopes, not finance's messages
    async with client(api, "dept.land") as http:
        _, body = api.deployment.envelope("dept.finance", "dept.culture")
        refused = await http.post("/v1/envelopes", content=body, headers=XML)
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        assert (await http.get(f"/v1/messages/{message_id}")).status_code == 404
    # a token and a certificate of different participants: refused
    async with client(api, "dept.land", token="finance") as http:
        mixed = await http.get("/v1/me")
        assert mixed.status_code == 403 and "dept.land" in mixed.json()["detail"]
    # a token alone still works over HTTPS; neither one nor the other: 401
    async with client(api, None, token="admin") as http:
        assert (await http.get("/v1/admin/status")).status_code == 200
    async with client(api, None) as http:
        assert (await http.get("/v1/me")).status_code == 401


async def test_a_certificate_from_another_ca_is_turned_away(tls_api: Api, tmp_path: Path) -> None:
    rogue = tmp_path / "rogue"
    key, cert = new_participant("dept.finance", rogue)  # the same name, a CA nobody trusts
    context = ssl.create_default_context(cafile=str(tls_api.deployment.pki / "ca.pem"))
    context.load_cert_chain(cert, key)
    async with httpx.AsyncClient(base_url=tls_api.url, verify=context) as http:
        with pytest.raises(httpx.HTTPError):
            await http.get("/v1/me")
    # plain HTTP to the HTTPS port gets nowhere either
    async with httpx.AsyncClient(base_url=tls_api.url.replace("https", "http")) as http:
        try:
            response = await http.get("/v1/me")
        except httpx.HTTPError:
            pass  # the connection is dropped
        else:
            assert response.status_code == 400, response.text
