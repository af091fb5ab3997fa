"""YAML from people, read within bounds: nesting, alias expansion, recursion, number size.

Rule files are written by people, and PyYAML trusts its input in ways a hub cannot: its
composer and constructor recurse once per nesting level (a flow sequence ``[[[[…`` 5,000 deep
raises RecursionError), an alias may refer to the node that contains it (a recursive
structure nothing downstream can walk), nested aliases expand exponentially (ten levels of ten
aliases each: ten billion nodes once constructed and validated), and a 5,000-digit integer
exceeds Python's conversion limit. :func:`read_yaml` checks all of this on the event stream
and the node graph, which are linear in the text, before anything is constructed, and says
what is wrong in one line with the line number; the loader turns that into a ``RulesError``.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 64  # mappings and sequences inside one another
MAX_EXPANDED_NODES = 200_000  # the nodes once every alias is expanded (a large file: ~30,000)
MAX_INT_DIGITS = 30  # priorities, attempts, sizes: nothing the rules need is longer
_INT_TAG = "tag:yaml.org,2002:int"
# libyaml's loader where PyYAML was built with it (10x faster; the same nodes and marks)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlBoundsError(ValueError):
    """A YAML text beyond the bounds above (the message names the line)."""


def _line(node_or_event: yaml.Node | yaml.Event) -> int:
    mark = node_or_event.start_mark
    return mark.line + 1 if mark is not None else 0


def _check_depth(text: str) -> None:
    """Nesting depth from the event stream (PyYAML's parser is a state machine: no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlBoundsError(
                    f"line {_line(event)}: mappings and lists nest more than {MAX_DEPTH} deep"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_graph(root: yaml.Node) -> None:
    """No alias cycle, a bounded expanded size, no oversized integer: one pass per node."""
    expanded: dict[int, int] = {}  # id(node) -> its size once every alias is expanded
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size = 1 + sum(expanded[id(child)] for child in _children(node))
            if size > MAX_EXPANDED_NODES:
                raise YamlBoundsError(
                    f"line {_line(node)}: aliases expand this to more than "
                    f"{MAX_EXPANDED_NODES} nodes"
                )
            expanded[key] = size
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise YamlBoundsError(f"line {_line(node)}: an alias refers to a node containing it")
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:
                raise YamlBoundsError(
                    f"line {_line(node)}: a number of {len(node.value)} characters; "
                    f"at most {MAX_INT_DIGITS}"
                )
            expanded[key] = 1
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise YamlBoundsError(
                    f"line {_line(child)}: an alias refers to a node containing it"
                )
            if id(child) not in expanded:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def read_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """(node graph with line numbers, constructed data) of one YAML document, within bounds.

    Raises YamlBoundsError (beyond the bounds) or yaml.YAMLError (not YAML).
    """
    _check_depth(text)
    node = yaml.compose(text, Loader=_LOADER)
    if node is None:
        return None, None
    _check_graph(node)
    loader = _LOADER("")
    try:
        return node, loader.construct_document(node)
    finally:
        loader.dispose()
