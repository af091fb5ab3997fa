"""The SMEV transform against the MR's published test cases and real SMEV messages."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from lxml import etree

from adapters.smev.crypto.gost import streebog256
from adapters.smev.crypto.transform import (
    exc_c14n,
    smev_digest_input,
    smev_transform,
    smev_transform_bytes,
)
from adapters.smev.crypto.xmldsig import DS_NS, find_by_id
from adapters.smev.errors import XmlInputError
from adapters.smev.parsing import parse_xml

# --- the three test cases published with the methodological recommendations -------------

MR_CASE_1 = "\n".join(
    [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- Тестирование правил 1, 2, 6:",
        (
            "\t- XML declaration выше, этот комментарий, и следующая за ним process"
            "ing instruction должны быть вырезаны;"
        ),
        "\t- Переводы строки должны быть удалены;",
        "\t- Namespace prefixes заменяются на автоматически сгенерированные.",
        "-->",
        '<?xml-stylesheet type="text/xsl" href="style.xsl"?>',
        "",
        '<elementOne xmlns="http://test/1">',
        '\t<qwe:elementTwo xmlns:qwe="http://test/2">asd</qwe:elementTwo>',
        "</elementOne>",
    ]
)

MR_CASE_1_EXPECTED = (
    '<ns1:elementOne xmlns:ns1="http://test/1">'
    '<ns2:elementTwo xmlns:ns2="http://test/2">asd</ns2:elementTwo>'
    "</ns1:elementOne>"
)

MR_CASE_2 = "\n".join(
    [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!--",
        "\tВсё то же, что в test case 1, плюс правила 4 и 5:",
        (
            "\t- Удалить namespace prefix, которые на текущем уровне объявляются, н"
            "о не используются."
        ),
        (
            "\t- Проверить, что namespace текущего элемента объявлен либо выше по д"
            "ереву, либо в текущем элементе. Если не объявлен, объявить в текущем э"
            "лементе"
        ),
        "-->",
        '<?xml-stylesheet type="text/xsl" href="style.xsl"?>',
        "",
        ('<elementOne xmlns="http://test/1" xmlns:qwe="http://test/2" xmlns:asd="http://test/3">'),
        "\t<qwe:elementTwo>",
        "\t\t<asd:elementThree>",
        "\t\t\t<!-- Проверка обработки default namespace. -->",
        "\t\t\t<elementFour> z x c </elementFour>",
        (
            "\t\t\t<!-- Тестирование ситуации, когда для одного namespace объявляет"
            "ся несколько префиксов во вложенных элементах. -->"
        ),
        ('\t\t\t<qqq:elementFive xmlns:qqq="http://test/2"> w w w </qqq:elementFive>'),
        "\t\t</asd:elementThree>",
        ("\t\t<!-- Ситуация, когда prefix был объявлен выше, чем должно быть в нормальной форме,"),
        ("\t\tпри нормализации переносится ниже, и это приводит к генерации нескольких префиксов"),
        "\t\tдля одного namespace в sibling элементах. -->",
        "\t\t<asd:elementSix>eee</asd:elementSix>",
        "\t</qwe:elementTwo>",
        "</elementOne> ",
    ]
)

MR_CASE_2_EXPECTED = (
    '<ns1:elementOne xmlns:ns1="http://test/1">'
    '<ns2:elementTwo xmlns:ns2="http://test/2">'
    '<ns3:elementThree xmlns:ns3="http://test/3">'
    "<ns1:elementFour> z x c </ns1:elementFour>"
    "<ns2:elementFive> w w w </ns2:elementFive>"
    "</ns3:elementThree>"
    '<ns4:elementSix xmlns:ns4="http://test/3">eee</ns4:elementSix>'
    "</ns2:elementTwo>"
    "</ns1:elementOne>"
)

MR_CASE_3 = "\n".join(
    [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!--",
        "\tВсё то же, что в test case 1, плюс правила 3, 7 и 8:",
        (
            "\t- Атрибуты должны быть отсортированы в алфавитном порядке: сначала п"
            "о namespace URI (если атрибут - в qualified form), затем – по local na"
            "me."
        ),
        ("\t\tАтрибуты в unqualified form после сортировки идут после атрибутов в qualified form."),
        "\t- Объявления namespace prefix должны находиться перед атрибутами.",
        "-->",
        '<?xml-stylesheet type="text/xsl" href="style.xsl"?>',
        "",
        ('<elementOne xmlns="http://test/1" xmlns:qwe="http://test/2" xmlns:asd="http://test/3">'),
        "\t<qwe:elementTwo>",
        (
            '\t\t<asd:elementThree xmlns:wer="http://test/a" xmlns:zxc="http://t'
            'est/0" wer:attZ="zzz" attB="bbb" attA="aaa" zxc:attC="ccc" as'
            'd:attD="ddd" asd:attE="eee" qwe:attF="fff"/>'
        ),
        "\t</qwe:elementTwo>",
        "</elementOne>",
    ]
)

MR_CASE_3_EXPECTED = (
    '<ns1:elementOne xmlns:ns1="http://test/1">'
    '<ns2:elementTwo xmlns:ns2="http://test/2">'
    '<ns3:elementThree xmlns:ns3="http://test/3" xmlns:ns4="http://test/0" '
    'xmlns:ns5="http://test/a" ns4:attC="ccc" ns2:attF="fff" ns3:attD="ddd" ns3:attE="eee" '
    'ns5:attZ="zzz" attA="aaa" attB="bbb"></ns3:elementThree>'
    "</ns2:elementTwo>"
    "</ns1:elementOne>"
)

# The MR example request's SenderProvidedRequestData after exc-c14n + SMEV transform: the
# canonical form whose GOST R 34.11-94 digest is the sample's DigestValue
# /jXl70XwnttJB5sSokwh8SaVHwo2gjgILSu0qBaLUAo= (fe35e5ef...500a).
MR_EXAMPLE_CANONICAL = (
    '<ns1:SenderProvidedRequestData xmlns:ns1="urn://x-artefacts-smev-gov-ru/services/'
    'message-exchange/types/1.1" Id="SIGNED_BY_CONSUMER">'
    "<ns1:MessageID>db0486d0-3c08-11e5-95e2-d4c9eff07b77</ns1:MessageID>"
    '<ns2:MessagePrimaryContent xmlns:ns2="urn://x-artefacts-smev-gov-ru/services/'
    'message-exchange/types/basic/1.1">'
    '<ns3:BreachRequest xmlns:ns3="urn://x-artefacts-gibdd-gov-ru/breach/root/1.0" '
    'Id="PERSONAL_SIGNATURE">'
    "<ns3:RequestedInformation>"
    '<ns4:RegPointNum xmlns:ns4="urn://x-artefacts-gibdd-gov-ru/breach/commons/1.0">'
    "Т785ЕС57</ns4:RegPointNum>"
    "</ns3:RequestedInformation>"
    "<ns3:Governance>"
    '<ns5:Name xmlns:ns5="urn://x-artefacts-gibdd-gov-ru/breach/commons/1.0">ГИБДД РФ</ns5:Name>'
    '<ns6:Code xmlns:ns6="urn://x-artefacts-gibdd-gov-ru/breach/commons/1.0">GIBDD</ns6:Code>'
    '<ns7:OfficialPerson xmlns:ns7="urn://x-artefacts-gibdd-gov-ru/breach/commons/1.0">'
    '<ns8:FamilyName xmlns:ns8="urn://x-artefacts-smev-gov-ru/supplementary/commons/1.0.1">'
    "Загурский</ns8:FamilyName>"
    '<ns9:FirstName xmlns:ns9="urn://x-artefacts-smev-gov-ru/supplementary/commons/1.0.1">'
    "Андрей</ns9:FirstName>"
    '<ns10:Patronymic xmlns:ns10="urn://x-artefacts-smev-gov-ru/supplementary/commons/1.0.1">'
    "Петрович</ns10:Patronymic>"
    "</ns7:OfficialPerson>"
    "</ns3:Governance>"
    "</ns3:BreachRequest>"
    "</ns2:MessagePrimaryContent>"
    "<ns1:TestMessage></ns1:TestMessage>"
    "</ns1:SenderProvidedRequestData>"
)


def _transform_text(xml: str) -> str:
    return smev_transform_bytes(xml.encode("utf-8")).decode("utf-8")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (MR_CASE_1, MR_CASE_1_EXPECTED),
        (MR_CASE_2, MR_CASE_2_EXPECTED),
        (MR_CASE_3, MR_CASE_3_EXPECTED),
    ],
    ids=["mr-case-1-decl-pi-comments-prefixes", "mr-case-2-unused-ns", "mr-case-3-attributes"],
)
def test_mr_published_cases(source: str, expected: str) -> None:
    assert _transform_text(source) == expected


def test_mr_cases_survive_exclusive_c14n_first() -> None:
    # In a signature the transform runs on exc-c14n output: the result must be the same.
    for source, expected in [(MR_CASE_2, MR_CASE_2_EXPECTED), (MR_CASE_3, MR_CASE_3_EXPECTED)]:
        root = parse_xml(source.encode("utf-8")).getroot()
        assert smev_transform_bytes(exc_c14n(root)).decode() == expected


def test_mr_example_request_canonical_form(data_dir: Path) -> None:
    tree = parse_xml((data_dir / "SendRequestRequest_MR_example_GOST2001_signed.xml").read_bytes())
    (element,) = find_by_id(tree, "SIGNED_BY_CONSUMER")
    assert smev_digest_input(element).decode("utf-8") == MR_EXAMPLE_CANONICAL


@pytest.mark.parametrize(
    ("sample", "element_id"),
    [
        ("SendRequestResponce.xml", "SIGNED_BY_SMEV"),
        ("GetResponseResponce_InvalidContent.xml", "SIGNED_BY_SMEV"),
        ("GetResponseResponce_InvalidContent.xml", "SIGNED_ASYNC_BY_SMEV"),
        ("AckRequest_GOST2012_cert_elided.xml", "SIGNED_BY_CALLER"),
    ],
)
def test_real_smev_gost2012_digests_match(data_dir: Path, sample: str, element_id: str) -> None:
    """SMEV's own DigestValues (Streebog-256 over the transform output) are reproduced."""
    tree = parse_xml((data_dir / sample).read_bytes())
    (element,) = find_by_id(tree, element_id)
    reference = tree.xpath(
        "//ds:Reference[@URI=$uri]", namespaces={"ds": DS_NS}, uri=f"#{element_id}"
    )
    assert isinstance(reference, list) and len(reference) == 1
    assert isinstance(reference[0], etree._Element)
    expected = reference[0].findtext(f"{{{DS_NS}}}DigestValue")
    assert expected
    computed = base64.b64encode(streebog256(smev_digest_input(element))).decode()
    assert computed == expected


def test_whitespace_only_text_dropped_but_other_text_kept_verbatim() -> None:
    xml = '<a xmlns="urn:x">\n  <b>  padded  </b>\t<c>\u00a0</c>\r\n<d/></a>'
    assert _transform_text(xml) == (
        '<ns1:a xmlns:ns1="urn:x"><ns1:b>  padded  </ns1:b>'
        "<ns1:c>\u00a0</ns1:c><ns1:d></ns1:d></ns1:a>"
    )


def test_text_split_by_comment_is_joined_before_whitespace_test() -> None:
    # exc-c14n would remove the comment first, leaving one text node "  x".
    xml = '<a xmlns="urn:x">  <!-- note -->x<?pi data?>y</a>'
    assert _transform_text(xml) == '<ns1:a xmlns:ns1="urn:x">  xy</ns1:a>'


def test_escaping_in_text_and_attributes() -> None:
    xml = '<a xmlns="urn:x" v="&quot;1&lt;2&amp;3&gt;&apos;">1 &lt; 2 &amp;&amp; 3 &gt; 2 "q"</a>'
    assert _transform_text(xml) == (
        '<ns1:a xmlns:ns1="urn:x" v="&quot;1&lt;2&amp;3&gt;\'">'
        '1 &lt; 2 &amp;&amp; 3 &gt; 2 "q"</ns1:a>'
    )


def test_declaration_order_element_namespace_then_attribute_namespaces() -> None:
    xml = '<p:a xmlns:p="urn:e" xmlns:z="urn:z" xmlns:b="urn:b" z:x="1" b:y="2" p:w="3" k="4"/>'
    assert _transform_text(xml) == (
        '<ns1:a xmlns:ns1="urn:e" xmlns:ns2="urn:b" xmlns:ns3="urn:z" '
        'ns2:y="2" ns1:w="3" ns3:x="1" k="4"></ns1:a>'
    )


def test_unqualified_elements_get_no_prefix() -> None:
    assert _transform_text('<a xmlns="urn:x"><b xmlns=""><c/></b></a>') == (
        '<ns1:a xmlns:ns1="urn:x"><b><c></c></b></ns1:a>'
    )


def test_only_the_element_is_transformed_not_its_tail_or_siblings() -> None:
    root = etree.fromstring('<r xmlns="urn:r"><a Id="x">t</a>tail<b/></r>')
    assert smev_transform(root[0]) == b'<ns1:a xmlns:ns1="urn:r" Id="x">t</ns1:a>'


def test_output_is_utf8() -> None:
    out = smev_transform_bytes('<a xmlns="urn:x">ГИБДД</a>'.encode())
    assert out == '<ns1:a xmlns:ns1="urn:x">ГИБДД</ns1:a>'.encode()


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>',
        b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>',
        b"<!DOCTYPE a><a/>",
    ],
)
def test_parser_rejects_doctype(document: bytes) -> None:
    with pytest.raises(XmlInputError, match="DOCTYPE"):
        parse_xml(document)


def test_parser_does_not_expand_entity_bombs() -> None:
    bomb = (
        b'<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><lol>&c;</lol>'
    )
    with pytest.raises(XmlInputError):
        parse_xml(bomb)


def test_parser_reports_malformed_xml() -> None:
    with pytest.raises(XmlInputError, match="not well-formed"):
        parse_xml(b"<a><b></a>")


def test_xml_namespace_attributes_are_renamed_like_any_other() -> None:
    # Mirrors the reference implementation, which does not special-case the xml: prefix
    # (see docs/smev-signatures.md); changing this changes digests.
    assert _transform_text('<a xmlns="urn:x" xml:lang="ru"><b xml:lang="en"/></a>') == (
        '<ns1:a xmlns:ns1="urn:x" xmlns:ns2="http://www.w3.org/XML/1998/namespace" '
        'ns2:lang="ru"><ns1:b ns2:lang="en"></ns1:b></ns1:a>'
    )
