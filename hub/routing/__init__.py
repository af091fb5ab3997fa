"""Routing rules: where a message goes, who may send what to whom, and why a message is refused.

Every ``*.yaml``/``*.yml`` file of the rules folder (``routing_rules/``) may hold four sections
(docs/routing.md is the reference, ``routing_rules/schema.json`` the JSON Schema for editors):

- ``rules``: ordered by descending ``priority`` (then file name, then position). A rule matches
  on header fields (exact values, shell-style patterns such as ``dept.*``, ``re:`` regular
  expressions, ``@group`` references), on any header value and optionally on an XPath over the
  payload. It delivers to one or more destinations (fan-out), rejects with a reason, and/or
  rewrites the recipient; a rule that only rewrites lets the following rules see the new
  recipient. The first rule that delivers or rejects decides.
- ``participants`` and ``groups``: who exists, with the certificates they sign with.
- ``access``: X-Road style access rights. Once declared, a message a rule would deliver is
  rejected unless some right lets its sender send its type to its (final) recipient.

The package, each module importing only those above it in this list:

- ``language``: the rule file's pydantic models and validators, what a pattern means, the JSON
  Schema, and ``RulesError``;
- ``compiled``: the models compiled into matchers: patterns with groups expanded, XPath
  (compiled once per thread), header conditions, address templates, compiled rules and rights;
- ``ruleset``: ``RuleSet`` (route, explain, access, certificates, warnings, the pickle cache)
  and its answers ``Decision``, ``Explanation``, ``Step``;
- ``loader``: the folder read into a ``RuleSet`` (YAML with line numbers, duplicate keys,
  certificate fingerprints, the version hash), ``check_rules`` and ``CheckReport``;
- ``diff``: what changed between two versions, and the summary a version is recorded with;
- ``watch``: hot reload, the folder watch and ``hub routes reload`` requests (depends on
  ``loader``; not imported here, so ``import hub.routing`` does not load it).

The names below are re-exported here: ``from hub.routing import load_rules, RuleSet``.
"""

from hub.routing.diff import diff_summary, version_summary
from hub.routing.language import (
    Access,
    AccessRight,
    Group,
    Match,
    Participant,
    RouteSettings,
    Rule,
    RuleFile,
    RulesError,
    Target,
    rules_json_schema,
)
from hub.routing.loader import CheckReport, check_rules, content_digest, load_rules, rule_files
from hub.routing.ruleset import Decision, Explanation, RuleSet, Step

__all__ = [
    "Access",
    "AccessRight",
    "CheckReport",
    "Decision",
    "Explanation",
    "Group",
    "Match",
    "Participant",
    "RouteSettings",
    "Rule",
    "RuleFile",
    "RuleSet",
    "RulesError",
    "Step",
    "Target",
    "check_rules",
    "content_digest",
    "diff_summary",
    "load_rules",
    "rule_files",
    "rules_json_schema",
    "version_summary",
]
