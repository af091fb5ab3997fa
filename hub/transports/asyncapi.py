"""The AMQP side of the hub as an AsyncAPI 3.0 document, and as the tables of
docs/rabbitmq-topology.md: both written from ``hub/transports/topology.py``, the data
``RabbitTransport`` declares from.

    python -m hub.transports.asyncapi > docs/asyncapi.yaml
    python -m hub.transports.asyncapi --markdown docs/rabbitmq-topology.md   # rewrites its tables

The document describes the hub: ``receive`` is what the hub takes, ``send`` what it puts. Each
channel is one exchange or one queue (its ``amqp`` binding says which) and its address is that
name. Three extensions carry what AMQP bindings 0.3.0 have no field for: ``x-amqp-arguments``
(a queue's arguments), ``x-amqp-bindings`` (the exchanges a queue is bound to) and
``x-amqp-properties`` (a message's AMQP properties, as a JSON Schema). They sit on the channel
and the message, not inside the ``amqp`` bindings, which some validators close to extensions.
Payloads are XML: an AsyncAPI schema of a string of ``contentMediaType`` application/xml, which
names its XSDs in ``x-xml-schemas`` (a JSON Reference may only point at JSON or YAML, and a
schemaFormat other than the AsyncAPI, JSON Schema, OpenAPI, Avro and RAML ones is one that
tooling need not know).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

import hub
from hub.transports.topology import (
    EXCHANGES,
    MESSAGES,
    OPERATIONS,
    PARAMETERS,
    QUEUES,
    Binding,
    Exchange,
    Field,
    Message,
    Queue,
    Scaled,
)

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING = "0.3.0"
SCHEMA_FORMAT = f"application/vnd.aai.asyncapi+json;version={ASYNCAPI_VERSION}"
HEADER = (
    "# The hub's AMQP interface (AsyncAPI 3.0). Generated from hub/transports/topology.py by\n"
    "#   python -m hub.transports.asyncapi > docs/asyncapi.yaml\n"
    "# Do not edit: tests/hub/transports/test_asyncapi.py keeps it equal to what that writes.\n"
)

_DESCRIPTION = """\
The hub's queues on RabbitMQ 3.10 (quorum queues), as the hub declares them
(docs/rabbitmq-topology.md tells the same in prose).

This document describes **the hub**: an operation whose action is `receive` is something the hub
takes (a department's client publishes it), `send` is something the hub puts (a department's
client consumes it from its inbox).

- Each channel is one exchange or one queue: its `amqp` binding says which (`is`), with the
  name, type and flags to declare it with. The channel's address is that name; `{…}` parts are
  the channel's parameters (`inbox.{participant}` is `inbox.dept.finance`).
- `x-amqp-arguments` (on a queue's channel): the queue's arguments, exactly. Declaring a queue
  with other arguments fails with `PRECONDITION_FAILED`. A value
  `{parameter: seconds, factor: 1000}` is that parameter of the name times the factor.
- `x-amqp-bindings` (on a queue's channel): the exchanges the queue is bound to, with the
  routing keys.
- `x-amqp-properties` (on a message): the message's AMQP properties, as a JSON Schema
  (`headers` are the AMQP headers; all their values are strings).
- Payloads are XML documents (`contentType: application/xml`): the payload schema says so and
  names the XSDs it follows in `x-xml-schemas` (paths in the hub's repository and package).
"""


# ------------------------------------------------------------------------------ the document
def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as plain data."""
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Interagency exchange hub: AMQP interface",
            "version": hub.__version__,
            "description": _DESCRIPTION,
        },
        "defaultContentType": "application/xml",
        "servers": {
            "rabbitmq": {
                "host": "{host}:{port}",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "pathname": "/{vhost}",
                "description": "The broker and vhost of `broker_url` in hub.toml; every "
                "exchange and queue below lives in that vhost.",
                "variables": {
                    "host": {"default": "localhost"},
                    "port": {"default": "5672"},
                    "vhost": {
                        "default": "%2F",
                        "description": "the vhost, URL-encoded (`%2F` is `/`)",
                    },
                },
                "security": [{"$ref": "#/components/securitySchemes/brokerUser"}],
            }
        },
        "channels": {
            **{e.key: _exchange_channel(e) for e in EXCHANGES},
            **{q.key: _queue_channel(q) for q in QUEUES},
        },
        "operations": {
            o.key: _operation(o.action, o.channel, o.messages, o.summary, o.reply)
            for o in OPERATIONS
        },
        "components": {
            "messages": {m.key: _message(m) for m in MESSAGES.values()},
            "parameters": {p.name: _parameter(p.name) for p in PARAMETERS.values()},
            "securitySchemes": {
                "brokerUser": {
                    "type": "userPassword",
                    "description": "One broker user per department, named as its participant "
                    "id: write to `hub.submit`, read its own `inbox.<participant>`, configure "
                    "nothing (docs/rabbitmq-topology.md, permissions).",
                }
            },
        },
    }


def _refs(kind: str, names: Iterable[str]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/{kind}/{name}"} for name in names}


def _parameters_of(name: str) -> dict[str, Any]:
    found = re.findall(r"\{(\w+)\}", name)
    return {"parameters": _refs("parameters", found)} if found else {}


def _exchange_channel(e: Exchange) -> dict[str, Any]:
    return {
        "address": e.name,
        "title": f"exchange {e.name}",
        "summary": e.summary.replace("**", ""),
        "description": f"{e.description}\n\nRouting key: {e.routing}. Declared {e.declared}.",
        **_parameters_of(e.name),
        "messages": _refs("messages", e.messages),
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": e.name,
                    "type": e.type,
                    "durable": e.durable,
                    "autoDelete": e.auto_delete,
                },
                "bindingVersion": AMQP_BINDING,
            }
        },
    }


def _argument(value: int | str | Scaled) -> Any:
    if isinstance(value, Scaled):
        return {"parameter": value.parameter, "factor": value.factor}
    return value


def _bound(queue: Queue, binding: Binding) -> dict[str, str]:
    return {
        "exchange": binding.exchange,
        "routingKey": binding.routing_key.replace("{queue}", queue.name),
    }


def _queue_channel(q: Queue) -> dict[str, Any]:
    return {
        "address": q.name,
        "title": f"queue {q.name}",
        "summary": q.summary,
        "description": f"{q.description}\n\nWrites: {q.writers}. Reads: {q.readers}. "
        f"Declared {q.declared}.".replace("**", ""),
        **_parameters_of(q.name),
        "messages": _refs("messages", q.messages),
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": q.name,
                    "durable": q.durable,
                    "exclusive": q.exclusive,
                    "autoDelete": q.auto_delete,
                },
                "bindingVersion": AMQP_BINDING,
            }
        },
        "x-amqp-arguments": {k: _argument(v) for k, v in q.arguments.items()},
        "x-amqp-bindings": [_bound(q, b) for b in q.bindings],
    }


def _operation(
    action: str,
    channel: str,
    messages: Iterable[str],
    summary: str,
    reply: tuple[str, str] | None,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages],
        "bindings": {
            "amqp": ({"deliveryMode": 2, "mandatory": True} if action == "send" else {"ack": True})
            | {"bindingVersion": AMQP_BINDING}
        },
    }
    if reply is not None:
        to, message = reply
        found["reply"] = {
            "channel": {"$ref": f"#/channels/{to}"},
            "messages": [{"$ref": f"#/channels/{to}/messages/{message}"}],
        }
    return found


def _field_schema(f: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": f.type}
    if f.description:
        schema["description"] = f.description
    if f.const is not None:
        schema["const"] = f.const
    if f.values:
        schema["enum"] = list(f.values)
    if f.pattern:
        schema["pattern"] = f.pattern
    return schema


def fields_schema(fields: Iterable[Field], others: bool, broker: bool = False) -> dict[str, Any]:
    """A JSON Schema of headers or properties: an object with these fields (``others``: and any
    other; ``broker``: and the broker's own ``x-…`` headers)."""
    fields = list(fields)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.name: _field_schema(f) for f in fields},
    }
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    if broker and not others:
        schema["patternProperties"] = {"^x-": {"description": "the broker's own"}}
    schema["additionalProperties"] = others
    return schema


def _message(m: Message) -> dict[str, Any]:
    xsds = ", ".join(f"`{path}` ({element})" for path, element in m.schemas)
    return {
        "name": m.key,
        "title": m.title,
        "summary": m.summary,
        "description": m.description,
        "contentType": "application/xml",
        "headers": fields_schema(m.headers, m.other_headers, m.broker_headers),
        "payload": {
            "schemaFormat": SCHEMA_FORMAT,
            "schema": {
                "type": "string",
                "contentMediaType": "application/xml",
                "description": f"XML: {m.payload}. Schemas: {xsds}.",
                "x-xml-schemas": [
                    {"schema": path, "element": element} for path, element in m.schemas
                ],
            },
        },
        "x-amqp-properties": fields_schema(m.properties, True),
    }


def _parameter(name: str) -> dict[str, Any]:
    p = PARAMETERS[name]
    found: dict[str, Any] = {"description": p.description}
    if p.values:
        found["enum"] = list(p.values)
    found["examples"] = [p.example]
    return found


class _Dumper(yaml.SafeDumper):
    """Writes text of several lines as a literal block, as a person would."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def to_yaml(data: Mapping[str, Any]) -> str:
    body = yaml.dump(
        dict(data),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return HEADER + body


# ------------------------------------------------------------------ docs/rabbitmq-topology.md
def _code(text: str) -> str:
    return f"`{text}`"


def _argument_text(name: str, value: int | str | Scaled) -> str:
    if isinstance(value, Scaled):
        return _code(f"{name}={value.parameter}*{value.factor}")
    return _code(f"{name}={value}")


def _exchanges_table() -> list[str]:
    rows = [
        "| Exchange | Type | Bound to it | Used for | Declared |",
        "|---|---|---|---|---|",
    ]
    for e in EXCHANGES:
        bound = [
            f"{_code(q.name)} (key {_code(_bound(q, b)['routingKey'] or '')})"
            if e.type == "direct"
            else _code(q.name)
            for q in QUEUES
            for b in q.bindings
            if b.exchange == e.name
        ]
        flags = ", durable" if e.durable else ""
        rows.append(
            f"| {_code(e.name)} | {e.type}{flags} | {', '.join(bound)} | {e.summary} "
            f"| {e.declared} |"
        )
    return rows


def _queues_table() -> list[str]:
    rows = [
        "| Queue | Arguments | Who writes / who reads | Declared |",
        "|---|---|---|---|",
    ]
    for q in QUEUES:
        arguments = ", ".join(_argument_text(k, v) for k, v in q.arguments.items())
        rows.append(f"| {_code(q.name)} | {arguments} | {q.writers} / {q.readers} | {q.declared} |")
    return rows


def _value(f: Field) -> str:
    parts = []
    if f.const is not None:
        parts.append(_code(str(f.const)))
    if f.description:
        parts.append(f.description)
    if f.values:
        parts.append(", ".join(_code(v) for v in f.values))
    return ": ".join(parts[:2]) + ("; " + parts[2] if len(parts) > 2 else "")


def _fields_table(first: str, rows: Iterable[tuple[str, Field]]) -> list[str]:
    lines = [f"| {first} | Value |", "|---|---|"]
    for where, f in rows:
        label = f"{where} {_code(f.name)}" if where else _code(f.name)
        lines.append(f"| {label} | {_value(f)} |")
    return lines


def _message_table(key: str) -> list[str]:
    m = MESSAGES[key]
    rows = [("property", f) for f in m.properties] + [("header", f) for f in m.headers]
    return _fields_table("Property / header", rows)


def _submission_tables() -> list[str]:
    m = MESSAGES["submission"]
    headers = _fields_table("Header", [("", f) for f in m.headers])
    properties = _fields_table("Property", [("", f) for f in m.properties])
    return [*headers, "", *properties]


TABLES: dict[str, Callable[[], list[str]]] = {
    "exchanges": _exchanges_table,
    "queues": _queues_table,
    "submission": _submission_tables,
    "envelope": lambda: _message_table("envelope"),
    "receipt": lambda: _message_table("receipt"),
    "executionNotice": lambda: _message_table("executionNotice"),
}
_BLOCK = re.compile(r"(<!-- topology:(\w+) -->\n)(.*?)(<!-- /topology:\2 -->)", re.DOTALL)


def update_markdown(text: str) -> str:
    """``text`` with every ``<!-- topology:NAME -->`` … ``<!-- /topology:NAME -->`` block
    written anew from the topology (an unknown NAME raises KeyError)."""

    def block(found: re.Match[str]) -> str:
        table = "\n".join(TABLES[found.group(2)]())
        return f"{found.group(1)}{table}\n{found.group(4)}"

    return _BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hub.transports.asyncapi",
        description="Print the hub's AsyncAPI 3.0 document (YAML), or rewrite the generated "
        "tables of a Markdown file.",
    )
    parser.add_argument("--markdown", type=Path, help="rewrite this file's topology tables")
    args = parser.parse_args(argv)
    if args.markdown is not None:
        path: Path = args.markdown
        path.write_text(update_markdown(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    sys.stdout.write(to_yaml(document()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
