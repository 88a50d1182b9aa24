"""The change feed of an organisation: what kinds of change it tells, and its opaque, signed cursor.

Each change carries a sequence number of its organisation, given when its transaction commits (so sequence
order is commit order), the state of the achievement as that transaction left it, and for an EDC change the
EDC's reference and state. A client that applies the changes in order holds the organisation's state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from lrs_ws.domain.errors import InvalidValue
from lrs_ws.domain.model import AchievementData

CREATED = "Created"
UPDATED = "Updated"
GRADE_EDITED = "GradeEdited"
WITHDRAWN = "Withdrawn"
REINSTATED = "Reinstated"
DELETED = "Deleted"
TRANSFERRED_OUT = "TransferredOut"
TRANSFERRED_IN = "TransferredIn"
PROMOTED_TO_FINAL = "PromotedToFinal"
EDC_RAISED = "EdcRaised"
EDC_PROCESSED = "EdcProcessed"
EDC_DECIDED = "EdcDecided"
EDC_VERIFIED = "EdcVerified"
EDC_CLOSED = "EdcClosed"
UNDER_DATA_CHALLENGE_CHANGED = "UnderDataChallengeChanged"

# The audit operation of a change (without the batch worker's "Batch" prefix) -> the kinds it shows as.
_KINDS: dict[str, tuple[str, ...]] = {
    "Create": (CREATED,),
    "Update": (UPDATED,),
    "EditGrade": (GRADE_EDITED,),
    "Withdraw": (WITHDRAWN,),
    "Reinstate": (REINSTATED,),
    "Delete": (DELETED,),
    "Transfer": (TRANSFERRED_OUT, TRANSFERRED_IN),
    "PromoteToFinal": (PROMOTED_TO_FINAL,),
    "RaiseEventDataChallenge": (EDC_RAISED,),
    "ProcessEventDataChallenge": (EDC_PROCESSED,),
    "RecordEventDataChallengeDecision": (EDC_DECIDED,),
    "EventDataChallengeActionVerified": (EDC_VERIFIED,),
    "CloseEventDataChallenge": (EDC_CLOSED,),
}
KINDS = (*dict.fromkeys(k for kinds in _KINDS.values() for k in kinds), UNDER_DATA_CHALLENGE_CHANGED)
BATCH_PREFIX = "Batch"


def kinds_of(operation: str) -> tuple[str, ...]:
    """The kinds an audited change of an achievement or EDC shows as. An operation this table does not name
    still changed the achievement: it shows as Updated rather than not at all."""
    name = operation.removeprefix(BATCH_PREFIX) if operation not in _KINDS else operation
    return _KINDS.get(name, (UPDATED,))


@dataclass(frozen=True)
class Change:
    """One change as a client reads it: `achievement` is its state after the change's transaction;
    `from_uln` the ULN it left (transfers only); the EDC fields for EDC changes."""

    seq: int
    at: datetime
    kind: str
    achievement: AchievementData
    deleted: bool
    from_uln: str | None = None
    edc_reference: str | None = None
    edc_status: str | None = None
    edc_decision: str | None = None
    edc_action_verified: bool | None = None


@dataclass(frozen=True)
class ChangePage:
    changes: list[Change]
    next_cursor: str
    has_more: bool


# -- the cursor: "<organisation id>.<sequence number>" signed with the service's key, base64url ----------

_CONTEXT = b"lrs-ws change feed cursor v1\n"
_SIGNATURE_BYTES = 16
BAD_CURSOR = (
    "The cursor is not one this service gave to your organisation: pass the NextCursor of your last call, or "
    "no cursor to start from the beginning."
)


def _signature(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _CONTEXT + payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def encode_cursor(key: bytes, organisation_id: int, seq: int) -> str:
    """The opaque cursor after change `seq` of the organisation."""
    payload = f"{organisation_id}.{seq}".encode("ascii")
    raw = payload + b"." + _signature(key, payload)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(key: bytes, organisation_id: int, cursor: str | None) -> int:
    """The sequence number a cursor stands for (0 for none). A cursor that was altered, signed with another
    key or given to another organisation is refused with InvalidValue."""
    text = (cursor or "").strip()
    if not text:
        return 0
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidValue("cursor", BAD_CURSOR) from None
    cut = len(raw) - _SIGNATURE_BYTES
    payload, dot, signature = raw[: cut - 1], raw[cut - 1 : cut], raw[cut:]
    if dot != b"." or not hmac.compare_digest(signature, _signature(key, payload)):
        raise InvalidValue("cursor", BAD_CURSOR)
    org_text, _, seq_text = payload.decode("ascii", "replace").partition(".")
    if not (org_text.isdigit() and seq_text.isdigit()) or int(org_text) != organisation_id:
        raise InvalidValue("cursor", BAD_CURSOR)
    return int(seq_text)
