"""Email: envelopes to agencies by SMTP, their answers (and bounces, plain mail) by IMAP.

``[adapters.email]`` with ``type = "email"`` in hub.toml; every key is in docs/email.md.
"""

from adapters.email.adapter import EmailAdapter, create
from adapters.email.settings import EmailSettings

__all__ = ["EmailAdapter", "EmailSettings", "create"]
