"""docs/asyncapi.yaml and the tables of docs/rabbitmq-topology.md are what the topology data
writes, and the document holds together as AsyncAPI 3.0 (its references, its channels'
parameters, its AMQP bindings); where asyncapi3 (a pure-Python AsyncAPI 3 validator) is
installed, it validates the document too."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.transports import asyncapi
from hub.transports.topology import EXCHANGES, MESSAGES, OPERATIONS, QUEUES

ROOT = Path(__file__).resolve().parents[3]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
TOPOLOGY_DOC = ROOT / "docs" / "rabbitmq-topology.md"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi.document()


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == asyncapi.to_yaml(asyncapi.document()), (
        "docs/asyncapi.yaml is stale: python -m hub.transports.asyncapi > docs/asyncapi.yaml"
    )


def test_the_tables_of_the_topology_doc_are_the_generated_ones() -> None:
    text = TOPOLOGY_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- topology:(\w+) -->", text)
    assert sorted(blocks) == sorted(asyncapi.TABLES), "every generated table appears once"
    assert asyncapi.update_markdown(text) == text, (
        "the tables of docs/rabbitmq-topology.md are stale: "
        "python -m hub.transports.asyncapi --markdown docs/rabbitmq-topology.md"
    )


def test_the_document_round_trips_through_yaml(doc: dict[str, Any]) -> None:
    assert yaml.safe_load(asyncapi.to_yaml(doc)) == doc


# ------------------------------------------------------------------------------- its structure
def refs(node: Any, path: str = "#") -> Iterator[tuple[str, str]]:
    """(where, $ref) for every reference in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield path, value
            else:
                yield from refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, f"{path}/{i}")


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only references inside the document"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_it_is_asyncapi_3_and_every_reference_resolves(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    found = list(refs(doc))
    assert found
    for where, ref in found:
        target = resolve(doc, ref)
        assert isinstance(target, dict), f"{where}: {ref}"


def test_operations_send_and_receive_what_their_channels_carry(doc: dict[str, Any]) -> None:
    assert set(doc["operations"]) == {o.key for o in OPERATIONS}
    for key, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), key
        channel_ref = operation["channel"]["$ref"]
        channel = resolve(doc, channel_ref)
        assert operation["messages"], key
        for message in operation["messages"]:
            # AsyncAPI 3: an operation's messages are its channel's, referenced through it
            assert message["$ref"].startswith(channel_ref + "/messages/"), (key, message)
        if "reply" in operation:
            reply_ref = operation["reply"]["channel"]["$ref"]
            for message in operation["reply"]["messages"]:
                assert message["$ref"].startswith(reply_ref + "/messages/"), key
        assert channel["messages"], key


def test_every_message_is_carried_and_every_channel_used(doc: dict[str, Any]) -> None:
    carried = {
        ref["$ref"] for channel in doc["channels"].values() for ref in channel["messages"].values()
    }
    assert carried == {f"#/components/messages/{m}" for m in MESSAGES}
    used = {o["channel"]["$ref"] for o in doc["operations"].values()}
    # every queue the hub declares is used by an operation, but for the delay queues and the
    # exchanges only the broker moves messages through (dead-lettering)
    unused = {c for c in doc["channels"] if f"#/channels/{c}" not in used}
    assert unused == {"deadExchange", "redeliver", "delayQueue"}


def test_channel_parameters_are_the_placeholders_of_the_address(doc: dict[str, Any]) -> None:
    for key, channel in doc["channels"].items():
        placeholders = set(re.findall(r"\{(\w+)\}", channel["address"]))
        assert set(channel.get("parameters", {})) == placeholders, key
        for name in placeholders:
            assert name in doc["components"]["parameters"], (key, name)


def test_each_channel_is_one_exchange_or_one_queue_named_by_its_address(
    doc: dict[str, Any],
) -> None:
    exchanges = {e.name for e in EXCHANGES}
    queues = {q.name for q in QUEUES}
    for key, channel in doc["channels"].items():
        amqp = channel["bindings"]["amqp"]
        assert amqp["bindingVersion"] == "0.3.0"
        if amqp["is"] == "routingKey":
            assert "queue" not in amqp and channel["address"] in exchanges, key
            assert amqp["exchange"]["name"] == channel["address"]
            assert amqp["exchange"]["type"] in ("fanout", "direct")
            assert "x-amqp-arguments" not in channel
        else:
            assert amqp["is"] == "queue" and "exchange" not in amqp, key
            assert amqp["queue"]["name"] == channel["address"] in queues
            assert set(amqp["queue"]) == {"name", "durable", "exclusive", "autoDelete"}
            assert channel["x-amqp-arguments"]["x-queue-type"] == "quorum"
            for bound in channel["x-amqp-bindings"]:
                assert bound["exchange"] in exchanges, (key, bound)


def test_headers_and_properties_are_json_schemas_of_objects(doc: dict[str, Any]) -> None:
    for key, message in doc["components"]["messages"].items():
        for schema in (message["headers"], message["x-amqp-properties"]):
            assert schema["type"] == "object", key
            assert set(schema.get("required", [])) <= set(schema["properties"]), key
            for name, field in schema["properties"].items():
                assert field["type"] in ("string", "integer"), (key, name)
        if key != "deadLetter":
            assert "message_id" in message["x-amqp-properties"]["properties"], key


def test_payloads_are_xml_and_name_schemas_that_exist(doc: dict[str, Any]) -> None:
    for key, message in doc["components"]["messages"].items():
        assert message["contentType"] == "application/xml"
        payload = message["payload"]
        assert payload["schemaFormat"] == "application/vnd.aai.asyncapi+json;version=3.0.0"
        schema = payload["schema"]
        assert schema["type"] == "string" and schema["contentMediaType"] == "application/xml"
        assert schema["x-xml-schemas"], key
        for xsd in schema["x-xml-schemas"]:
            path = ROOT / xsd["schema"]
            assert path.is_file(), (key, xsd)
            namespace, element = xsd["element"][1:].split("}")
            text = path.read_text(encoding="utf-8")
            assert f'targetNamespace="{namespace}"' in text, (key, xsd)
            assert f'<xs:element name="{element}"' in text, (key, xsd)


def test_a_python_asyncapi_3_validator_accepts_it(doc: dict[str, Any]) -> None:
    asyncapi3 = pytest.importorskip("asyncapi3", reason="pip install asyncapi3 to validate")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its models warn about their own field names
        model = asyncapi3.AsyncAPI3.model_validate(doc)
    assert model.asyncapi == "3.0.0"
