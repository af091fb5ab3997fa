"""The hub over amqps: a RabbitMQ node of the test's own (never the shared broker, which has no
TLS listener and must not be restarted) with a TLS listener and certificates the test makes;
the hub verifies the broker's certificate against the CA given in the URL."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.config import load_config
from tests.hub.harness import Deployment, make_deployment, running_hub, submit, wait_for_state
from tests.hub.pipeline.test_unreadable import taken
from tests.support.rabbit_cluster import Node, RabbitCluster, free_ports, require_cluster

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(180)]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and the broker's certificate for 127.0.0.1 and localhost: (ca, cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("test broker CA")
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = folder / "ca.pem", folder / "broker.pem", folder / "broker.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for path in paths:
        path.chmod(0o644)  # the node runs as this user; readable is enough
    return paths


class TlsRabbit(RabbitCluster):
    """One node with a TLS listener on ``tls_port`` besides its plain one."""

    def __init__(self, directory: Path, tls: tuple[Path, Path, Path]) -> None:
        super().__init__(directory, size=1)
        self.tls = tls
        (self.tls_port,) = free_ports(1)

    def _write_config(self, node: Node) -> None:
        super()._write_config(node)
        ca, cert, key = self.tls
        with (node.base / "rabbitmq.conf").open("a") as conf:
            conf.write(
                f"listeners.ssl.default = {self.tls_port}\n"
                f"ssl_options.cacertfile = {ca}\n"
                f"ssl_options.certfile = {cert}\n"
                f"ssl_options.keyfile = {key}\n"
                "ssl_options.verify = verify_none\n"
                "ssl_options.fail_if_no_peer_cert = false\n"
            )


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsRabbit, Path]]:
    require_cluster()
    folder = tmp_path_factory.mktemp("amqps")
    tls = make_tls_files(folder / "tls")
    broker = TlsRabbit(folder / "node", tls)
    try:
        broker.start()
        yield broker, tls[0]
    finally:
        broker.stop()


async def test_the_hub_works_over_amqps_and_checks_the_brokers_certificate(
    tls_broker: tuple[TlsRabbit, Path], tmp_path: Path
) -> None:
    broker, ca = tls_broker
    url = f"amqps://guest:guest@127.0.0.1:{broker.tls_port}/?cafile={ca}"
    deployment: Deployment = make_deployment(tmp_path / "d", url)
    assert load_config(deployment.config_path).broker_url.startswith("amqps://")
    message_id, body = deployment.envelope("dept.finance", "dept.culture")
    async with running_hub(deployment) as hub:
        await submit(hub, body)
        assert await wait_for_state(hub.store, message_id, {"delivered"}) == "delivered"
        (delivered,) = await taken(hub, "dept.culture", 1)
    assert message_id.encode() in delivered.body
    # a client that does not trust the test's CA (the system store) gets no connection
    plain = re.sub(r"\?.*", "", url)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        await aio_pika.connect(plain, timeout=10)
