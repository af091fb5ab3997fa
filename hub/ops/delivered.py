"""What an item taken from an inbox is, read from its verified content only.

An inbox holds what the hub delivered: envelopes it countersigned (``HubSignature`` over
Content and Routing) and receipts it signed as their sender. Reading the header leniently
(``hub.queues.header_facts``) reads the document as text, and that can differ from what was
signed: a comment inside a signed element splits the text the sniffer reads, while the
canonical form that was digested leaves it out. So what the command line and the API show of an
item comes from the content the hub's signature covers, re-parsed from the verified bytes;
an item whose signature does not verify is shown as such, with the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from envelopes.errors import EnvelopeError
from envelopes.parsing import parse_xml
from envelopes.pki import TrustStore
from envelopes.signatures import verify_hub, verify_sender
from hub.config import HubConfig
from hub.queues import unparsed_id


@dataclass(frozen=True)
class DeliveredFacts:
    """(message id, sender, kind) as verified; ``problem`` says why not, if it did not."""

    message_id: str
    sender: str
    kind: str
    problem: str | None = None


@dataclass
class DeliveredReader:
    """Verifies inbox items against the deployment's trust store and the hub's identity."""

    trust: TrustStore
    hub_id: str

    @classmethod
    def for_config(cls, config: HubConfig) -> DeliveredReader:
        return cls(TrustStore.from_pem_files(config.path(p) for p in config.pki.trust), config.id)

    def facts(self, body: bytes, at: dt.datetime | None = None) -> DeliveredFacts:
        try:
            root = parse_xml(body)
            if root.find("{*}HubSignature") is not None:
                verified = verify_hub(root, self.trust, self.hub_id, at)
            else:  # a receipt or notice the hub wrote and signed as its sender
                verified = verify_sender(root, self.trust, at)
                if verified.signer_id != self.hub_id:
                    raise EnvelopeError(
                        f"signed by {verified.signer_id}, not by the hub {self.hub_id}"
                    )
        except EnvelopeError as exc:
            return DeliveredFacts(unparsed_id(body), "-", "-", f"{exc.code}: {exc}")
        header = verified.envelope.header
        return DeliveredFacts(str(header.message_id), header.sender, header.kind.value)
