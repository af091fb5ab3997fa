"""Time the SMEV signature path on a ~5 KB SendRequest: transform, digest, sign, verify.

gostcrypto is pure Python, so these numbers bound how many SMEV messages one hub process can
sign or verify per second. Run: ``.venv/bin/python bench/smev_crypto.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.smev.crypto import gost
from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.crypto.dev_ca import issue_gost_certificate
from adapters.smev.crypto.signers import GostSigner
from adapters.smev.crypto.transform import smev_digest_input
from adapters.smev.crypto.xmldsig import find_by_id, sign_smev_element, verify

TYPES = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1"
BASIC = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.1"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
PAYLOAD = "urn://example.invalid/hub/bench/1.0"


def make_send_request(target_bytes: int = 5000) -> etree._ElementTree:
    """A SendRequestRequest whose serialized form is about ``target_bytes`` long."""
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"S": SOAP})
    body = etree.SubElement(envelope, f"{{{SOAP}}}Body")
    request = etree.SubElement(body, f"{{{TYPES}}}SendRequestRequest", nsmap={"ns": TYPES})
    data = etree.SubElement(
        request, f"{{{TYPES}}}SenderProvidedRequestData", Id="SIGNED_BY_CONSUMER"
    )
    etree.SubElement(data, f"{{{TYPES}}}MessageID").text = str(uuid.uuid1())
    content = etree.SubElement(data, f"{{{BASIC}}}MessagePrimaryContent", nsmap={"b": BASIC})
    registry = etree.SubElement(content, f"{{{PAYLOAD}}}RegistryRequest", nsmap={"p": PAYLOAD})
    index = 0
    while len(etree.tostring(envelope, encoding="UTF-8")) < target_bytes:
        index += 1
        person = etree.SubElement(registry, f"{{{PAYLOAD}}}Person", number=str(index))
        etree.SubElement(person, f"{{{PAYLOAD}}}FamilyName").text = "Иванов"
        etree.SubElement(person, f"{{{PAYLOAD}}}FirstName").text = "Пётр"
        etree.SubElement(person, f"{{{PAYLOAD}}}Snils").text = f"{index:03d}-456-789 01"
        etree.SubElement(person, f"{{{PAYLOAD}}}Note").text = "запрос сведений & проверка < 5"
    etree.SubElement(data, f"{{{TYPES}}}TestMessage")
    return envelope.getroottree()


def timed(label: str, rounds: int, action: Callable[[], object]) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    median = statistics.median(samples)
    print(f"{label:<44} {median:8.2f} ms  (median of {rounds}, min {min(samples):.2f})")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        key_path, cert_path = issue_gost_certificate("bench", Path(directory))
        signer = GostSigner.from_files(key_path, cert_path)
        trust = GostTrustStore.from_files([Path(directory) / "ca-gost.pem"])

    tree = make_send_request()
    size = len(etree.tostring(tree, encoding="UTF-8"))
    (element,) = find_by_id(tree, "SIGNED_BY_CONSUMER")
    octets = smev_digest_input(element)
    print(
        f"SendRequestRequest: {size} bytes; transformed SenderProvidedRequestData: "
        f"{len(octets)} bytes\n"
    )

    rounds = args.rounds
    timed("transform (exc-c14n + SMEV transform)", rounds, lambda: smev_digest_input(element))
    timed("digest (Streebog-256 of transformed data)", rounds, lambda: gost.streebog256(octets))

    def sign_once() -> etree._ElementTree:
        fresh = copy.deepcopy(tree)
        sign_smev_element(fresh.getroot(), "SIGNED_BY_CONSUMER", signer)
        return fresh

    timed("sign (whole XMLDSig: transform+digest+sign)", rounds, sign_once)
    signed = sign_once()
    timed("verify (digest + signature, no chain)", rounds, lambda: verify(signed))
    timed("verify with CA chain (+1 GOST verify)", rounds, lambda: verify(signed, trust=trust))

    print()
    key = gost.generate_private_key()
    public = key.public_key()
    digest = gost.streebog256(b"x")
    signature = gost.sign_digest(key, digest)
    timed("gostcrypto point multiply (public key)", rounds, key.public_key)
    timed("GOST R 34.10-2012 sign of a digest", rounds, lambda: gost.sign_digest(key, digest))
    timed(
        "GOST R 34.10-2012 verify of a digest",
        rounds,
        lambda: gost.verify_digest(public, digest, signature),
    )


if __name__ == "__main__":
    main()
