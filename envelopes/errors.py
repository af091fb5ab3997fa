"""Why an envelope was refused.

Every error carries a short ``code`` (a bounded vocabulary: used in receipts, timelines and metric
labels) and a message that names the element, rule or certificate at fault. ``problems`` lists
one line per problem when there are several (schema errors).

    EnvelopeError
    ├── XmlError                     not acceptable as XML at all
    │   ├── MalformedXmlError        not well-formed
    │   ├── ForbiddenXmlError        DOCTYPE / entities / processing instructions we refuse
    │   ├── TooLargeError            over the size limit
    │   └── TooDeepError             over the nesting limit
    ├── SchemaValidationError        the envelope's own structure is wrong
    │   └── PayloadValidationError   the business payload breaks its schema
    ├── UnknownMessageTypeError      no schema for the payload's namespace
    ├── AttachmentError              attachment content does not match its manifest entry
    │   └── AttachmentDigestMismatchError  a content reference names other content than signed
    └── SignatureError               no valid signature
        ├── SignatureMissingError    nothing to verify
        ├── AlgorithmNotAllowedError an algorithm outside the allow-list (SHA-1, ...)
        └── CertificateError         the certificate cannot be trusted for this sender
            ├── UntrustedCertificateError  not issued by a trusted CA
            ├── CertificateExpiredError    outside its validity period
            ├── KeyUsageError              not allowed to sign documents
            ├── CertificateRevokedError    revoked by its CA (CRL or OCSP)
            ├── RevocationUnknownError     no CRL or OCSP answer to be had (fail closed)
            └── SenderMismatchError        issued to another participant
"""

from __future__ import annotations

import datetime as dt


class EnvelopeError(Exception):
    """An envelope the hub cannot accept."""

    code = "invalid"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]

    @property
    def reason(self) -> str:
        """All problems on one line each: what receipts and the command line print."""
        return "\n".join(self.problems)


class XmlError(EnvelopeError):
    """The input is not acceptable as XML."""

    code = "malformed"


class MalformedXmlError(XmlError):
    """The input is not well-formed XML."""

    code = "malformed"


class ForbiddenXmlError(XmlError):
    """The input uses an XML feature we never accept (DOCTYPE, entities)."""

    code = "forbidden_xml"


class TooLargeError(XmlError):
    """The input is larger than the configured limit."""

    code = "too_large"


class TooDeepError(XmlError):
    """The input nests elements deeper than the configured limit."""

    code = "too_deep"


class SchemaValidationError(EnvelopeError):
    """The envelope does not match the envelope schema."""

    code = "envelope_invalid"


class PayloadValidationError(SchemaValidationError):
    """The payload does not match the schema of its namespace."""

    code = "payload_invalid"


class UnknownMessageTypeError(EnvelopeError):
    """No schema is registered for the payload's namespace."""

    code = "unknown_message_type"


class AttachmentError(EnvelopeError):
    """Attachment content is missing or does not match its signed manifest entry."""

    code = "attachment_invalid"


class AttachmentDigestMismatchError(AttachmentError):
    """A content reference (or the blob behind it) is not the content the manifest signed."""

    code = "attachment_digest_mismatch"


class SignatureError(EnvelopeError):
    """The signature does not verify."""

    code = "signature_invalid"


class SignatureMissingError(SignatureError):
    """The envelope carries no signature where one is required."""

    code = "signature_missing"


class AlgorithmNotAllowedError(SignatureError):
    """The signature uses an algorithm outside the allow-list."""

    code = "algorithm_not_allowed"


class CertificateError(SignatureError):
    """The signing certificate cannot be trusted for this sender."""

    code = "certificate_invalid"


class UntrustedCertificateError(CertificateError):
    """The certificate was not issued by a trusted CA."""

    code = "certificate_untrusted"


class CertificateExpiredError(CertificateError):
    """The certificate is not valid at the time of verification."""

    code = "certificate_expired"


class CertificateRevokedError(CertificateError):
    """The certificate's CA has revoked it (a CRL lists it, or OCSP says so)."""

    code = "certificate_revoked"

    def __init__(self, message: str, *, serial: str, revoked_at: dt.datetime) -> None:
        super().__init__(message)
        self.serial = serial
        self.revoked_at = revoked_at


class RevocationUnknownError(CertificateError):
    """Whether the certificate is revoked cannot be established, and the policy fails closed."""

    code = "certificate_revocation_unknown"


class KeyUsageError(CertificateError):
    """The certificate's key usage does not allow signing documents."""

    code = "certificate_key_usage"


class SenderMismatchError(CertificateError):
    """The certificate belongs to another participant than the envelope's Sender."""

    code = "certificate_sender_mismatch"
