"""``hub smev``: the SMEV transform, signing and verification from the command line.

Exit codes: 0 success, 1 the input or a signature failed (reasons on stderr, one line each),
2 usage errors (click's convention). Bad input never produces a traceback.

``hub --help`` loads this module to list the group: the crypto (lxml, gostcrypto, asn1crypto)
is imported inside the commands, when one runs.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from adapters.smev.errors import SigningError, SmevCertificateError, XmlInputError

if TYPE_CHECKING:
    from lxml import etree

    from adapters.smev.crypto.certificates import GostTrustStore
    from adapters.smev.crypto.xmldsig import SignatureReport

_INPUT = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


class _Failure(click.ClickException):
    """A failure caused by the input (exit 1, message on stderr, no traceback)."""

    exit_code = 1


class _Moment(click.ParamType[datetime, object]):
    """An ISO 8601 date or date-time; without a zone it is taken as UTC."""

    name = "TIME"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = datetime.fromisoformat(str(value).strip())
            except ValueError:
                self.fail(
                    f"{value!r} is not an ISO 8601 date/time (e.g. 2021-03-23T07:03:08+03:00)",
                    param,
                    ctx,
                )
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _load(path: Path) -> etree._ElementTree:
    from adapters.smev.parsing import parse_xml

    try:
        return parse_xml(path.read_bytes())
    except XmlInputError as exc:
        raise _Failure(f"{path}: {exc}") from exc
    except OSError as exc:
        raise _Failure(f"{path}: {exc.strerror or exc}") from exc


def _element(tree: etree._ElementTree, element_id: str | None, path: Path) -> etree._Element:
    """The element with that Id; by default SenderProvidedRequestData, else the first element
    with an Id, else (the MR's published test cases have no Id) the root element."""
    from lxml import etree

    from adapters.smev.crypto.xmldsig import find_by_id

    if element_id is not None:
        found = find_by_id(tree, element_id)
        if len(found) != 1:
            raise _Failure(
                f"{path}: no element with Id={element_id!r}"
                if not found
                else f"{path}: {len(found)} elements carry Id={element_id!r}"
            )
        return found[0]
    candidates = tree.xpath("//*[@Id]")
    assert isinstance(candidates, list)
    elements = [node for node in candidates if isinstance(node, etree._Element)]
    for node in elements:
        if etree.QName(node).localname == "SenderProvidedRequestData":
            return node
    if not elements:
        return tree.getroot()
    return elements[0]


@click.group(name="smev")
def smev() -> None:
    """SMEV 3: the SMEV transform and GOST R 34.10-2012 XMLDSig signatures."""


@smev.command("transform")
@click.argument("file", type=_INPUT)
@click.option(
    "--id",
    "element_id",
    metavar="ID",
    help="Id of the element (default: SenderProvidedRequestData, else the first element with "
    "an Id, else the root element).",
)
@click.option(
    "--digest",
    is_flag=True,
    help="Print the base64 GOST R 34.11-2012 (256) digest instead of the bytes.",
)
def transform_command(file: Path, element_id: str | None, digest: bool) -> None:
    """Print the bytes SMEV digests for an element: exclusive c14n, then the SMEV transform."""
    from adapters.smev.crypto import gost
    from adapters.smev.crypto.transform import smev_digest_input

    tree = _load(file)
    try:
        octets = smev_digest_input(_element(tree, element_id, file))
    except XmlInputError as exc:
        raise _Failure(f"{file}: {exc}") from exc
    if digest:
        click.echo(base64.b64encode(gost.streebog256(octets)))
    else:
        click.echo(octets, nl=False)


@smev.command("sign")
@click.argument("file", type=_INPUT)
@click.option("--id", "element_id", required=True, metavar="ID", help="Id of the element to sign.")
@click.option(
    "--key",
    "key_path",
    required=True,
    type=_INPUT,
    help="Private key: GOST 2012 PKCS#8 PEM (hub keys new --algorithm gost2012) or RSA.",
)
@click.option("--cert", "cert_path", required=True, type=_INPUT, help="Certificate (PEM or DER).")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Where to write the signed document ('-': stdout).",
)
def sign_command(
    file: Path, element_id: str, key_path: Path, cert_path: Path, output: Path
) -> None:
    """Sign the element with Id=ID into its SMEV signature container.

    SenderProvidedRequestData (and the other caller-signed elements) get a
    CallerInformationSystemSignature, created if missing; any other element gets a
    ds:Signature as its next sibling.
    """
    from lxml import etree

    from adapters.smev.crypto.signers import load_signer
    from adapters.smev.crypto.xmldsig import sign_smev_element

    tree = _load(file)
    try:
        signer = load_signer(key_path, cert_path)
    except (SigningError, SmevCertificateError) as exc:
        raise _Failure(str(exc)) from exc
    try:
        sign_smev_element(tree.getroot(), element_id, signer)
    except (SigningError, SmevCertificateError) as exc:
        raise _Failure(f"{file}: {exc}") from exc
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    if str(output) == "-":
        click.echo(data, nl=False)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise _Failure(f"{output}: {exc.strerror or exc}") from exc
    click.echo(f"signed Id={element_id} in {file} -> {output}", err=True)


def _ok_line(report: SignatureReport) -> str:
    from adapters.smev.crypto.xmldsig import GOST2012_256_SIGNATURE, RSA_SHA256_SIGNATURE

    names = {GOST2012_256_SIGNATURE: "GOST R 34.10-2012/256", RSA_SHA256_SIGNATURE: "RSA-SHA256"}
    algorithm = names.get(report.signature_method or "", report.signature_method)
    cert = report.certificate
    if cert is None:
        return f"OK {report.label}: {algorithm}"
    return (
        f"OK {report.label}: {algorithm}, signed by '{cert.name}', "
        f"certificate valid until {cert.not_after:%Y-%m-%d}"
    )


@smev.command("verify")
@click.argument("file", type=_INPUT)
@click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    type=_INPUT,
    metavar="CA",
    help="Trusted CA certificate(s), PEM; repeatable. Without it no chain check.",
)
@click.option(
    "--at",
    "at",
    type=_Moment(),
    default=None,
    help="Judge certificate validity at this time (archived messages); default now.",
)
def verify_command(file: Path, trust_paths: tuple[Path, ...], at: datetime | None) -> None:
    """Verify every ds:Signature in FILE: references, digests, signature values, certificates."""
    from adapters.smev.crypto.certificates import GostTrustStore
    from adapters.smev.crypto.xmldsig import verify

    tree = _load(file)
    trust: GostTrustStore | None = None
    if trust_paths:
        try:
            trust = GostTrustStore.from_files(trust_paths)
        except (SmevCertificateError, OSError) as exc:
            raise _Failure(f"--trust: {exc}") from exc
    reports = verify(tree, trust=trust, at=at)
    if not reports:
        raise _Failure(f"{file}: no ds:Signature found")
    failed = False
    for report in reports:
        if report.ok:
            click.echo(_ok_line(report))
            continue
        failed = True
        for problem in report.problems:
            click.echo(f"FAIL {report.label}: {problem}", err=True)
    if failed:
        raise SystemExit(1)


def keys_new_gost(participant_id: str, out_dir: Path, days: int = 365) -> tuple[Path, Path]:
    """Create a GOST 2012 key and dev-CA certificate for ``hub keys new --algorithm gost2012``.

    Writes ``<out_dir>/<id>.key.pem`` and ``<out_dir>/<id>.pem`` (plus ``ca-gost.pem`` and
    ``ca-gost.key.pem`` on first use); returns (key path, certificate path). Raises ValueError
    for a bad id or days, FileExistsError rather than overwrite a key.
    """
    from adapters.smev.crypto.dev_ca import issue_gost_certificate

    return issue_gost_certificate(participant_id, out_dir, days)
