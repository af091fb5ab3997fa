"""The hub's errors: one root, each class a cause a person can act on.

Every message names the cause (the key, file and line, adapter or certificate); callers print
it as it is. The tree::

    HubError                    the hub cannot do what was asked; the message says why
    ├── ConfigError             hub.toml or the environment cannot be used (names every key)
    │   └── AdapterConfigError  an [adapters.<name>] section: unknown type, broken module, bad key
    ├── PluginError             an installed command group or extension cannot be loaded
    ├── RulesError              routing rules cannot be used (names file and line)
    ├── StoreError              the store cannot be opened or is not the hub's
    └── ApiError                the HTTP API refused a request (its status and stable code)

Other roots, on purpose: ``envelopes.errors.EnvelopeError`` (the envelope library stands on its
own and knows nothing of the hub; its errors carry the rejection code and problems that go into
receipts) and each adapter's own tree (``adapters.smev.errors.SmevError``, …), which the hub
meets only as delivery outcomes.
"""

from __future__ import annotations


class HubError(Exception):
    """The hub cannot do what was asked; the message says why."""

    def __init__(self, problems: str | list[str] = "") -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ConfigError(HubError):
    """hub.toml or the environment cannot be used; the message names every key at fault."""


class AdapterConfigError(ConfigError):
    """An ``[adapters.<name>]`` section cannot be used: unknown type, broken module, bad key."""


class PluginError(HubError):
    """An installed command group or extension (an entry point) cannot be loaded."""


class RulesError(HubError):
    """Routing rules cannot be used; one problem per line, each naming file and line."""


class StoreError(HubError):
    """The store cannot be opened, or is not a store of this hub."""


class ApiError(HubError):
    """The HTTP API refused a request; ``status`` and ``code`` as its problem+json says."""

    def __init__(self, status: int, code: str, problems: str | list[str]) -> None:
        super().__init__(problems)
        self.status = status
        self.code = code
