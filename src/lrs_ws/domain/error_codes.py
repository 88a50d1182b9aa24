"""Every ErrorCode the service answers with: the one table.

Each DomainError type has a row: its ErrorCode and, when a batch record can be refused with it, the category
the job counts that record under (FieldDataError, LearnerDataError, BusinessRuleError). A type without a row
of its own takes its nearest ancestor's (TooManyAttempts answers as AuthenticationFailed). SOAP faults
(soap/faults.py), batch record outcomes and the error file (service/batch_processing.py) and the record-rule
catalogue (service/record_rules.py, docs/rules.md) all read it; tests/unit/test_error_codes.py keeps the
README's list and docs/operations-reference.md's ErrorCode table equal to it.

Adding a code: a DomainError subclass in errors.py, one row at the end of ERROR_CODES, the README and
docs/operations-reference.md rows. Codes are never renumbered.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrs_ws.domain import errors as e
from lrs_ws.domain.batch import BUSINESS_ERROR, FIELD_ERROR, LEARNER_ERROR


@dataclass(frozen=True)
class ErrorCode:
    code: str
    category: str | None = None  # the batch record category; None: never the refusal of one record


ERROR_CODES: dict[type[e.DomainError], ErrorCode] = {
    e.SchemaInvalid: ErrorCode("WSEC0001"),
    e.AuthenticationFailed: ErrorCode("WSEC0003"),
    e.ServiceUnavailable: ErrorCode("WSEC0004"),
    e.AccessDenied: ErrorCode("WSEC0006"),
    e.InvalidUln: ErrorCode("WSEC0136", FIELD_ERROR),
    e.StaleVersion: ErrorCode("WSRC0013"),
    e.UnknownJob: ErrorCode("WSRC0018"),
    e.BatchNotEnabled: ErrorCode("WSRC0043"),
    e.BatchEmailInvalid: ErrorCode("WSEC0044"),
    e.SubmissionTypeInvalid: ErrorCode("WSEC0045"),
    e.TooManyAchievements: ErrorCode("WSEC0046"),
    e.NoAchievements: ErrorCode("WSEC0047"),
    e.GradeTooLong: ErrorCode("WSEC0101", FIELD_ERROR),
    e.FutureDate: ErrorCode("WSEC0102", BUSINESS_ERROR),
    e.InvalidValue: ErrorCode("WSEC0103", FIELD_ERROR),
    e.LearnerNotFound: ErrorCode("WSEC0104", LEARNER_ERROR),
    e.NotFound: ErrorCode("WSEC0105", BUSINESS_ERROR),
    e.InvalidTransition: ErrorCode("WSEC0106", BUSINESS_ERROR),
    e.SameUlnTransfer: ErrorCode("WSEC0107"),
    e.DuplicateAchievement: ErrorCode("WSEC0108", BUSINESS_ERROR),
    e.AmbiguousTarget: ErrorCode("WSEC0109", BUSINESS_ERROR),
    e.ActionNotVerified: ErrorCode("WSEC0110"),
    e.LearnerMismatch: ErrorCode("WSEC0111", LEARNER_ERROR),
    e.QueueFull: ErrorCode("WSEC0112"),
    e.LinkRefused: ErrorCode("WSEC0120"),
    e.TooManyLearners: ErrorCode("WSEC0121"),
    e.NoLearners: ErrorCode("WSEC0122"),
    e.LastAdministrator: ErrorCode("WSEC0140"),
    e.InvalidPasswordToken: ErrorCode("WSEC0141"),
    e.PasswordRejected: ErrorCode("WSEC0142"),
}

# Anything unexpected: a fault quoting the request id, or a batch record failed after its retries.
INTERNAL_ERROR = ErrorCode("WSEC0199", BUSINESS_ERROR)
INTERNAL_ERROR_MESSAGE = "The service could not complete the request. Quote the request id to LRS support."
INTERNAL_RECORD_MESSAGE = "The record could not be processed because of an internal error; submit it again."

# The ResponseCode of a successful DeleteAchievement and batch submission.
SUCCESS = "WSRC0000"


def row_for(kind: type[e.DomainError] | None) -> ErrorCode | None:
    """The row of the type, or of its nearest ancestor that has one."""
    for klass in kind.__mro__ if kind is not None else ():
        row = ERROR_CODES.get(klass)
        if row is not None:
            return row
    return None


def code_for(kind: type[e.DomainError]) -> str:
    """The ErrorCode of a kind of refusal (the internal error's for a type without a row)."""
    return (row_for(kind) or INTERNAL_ERROR).code


def error_code(error: e.DomainError) -> str:
    """The ErrorCode a refusal is answered with."""
    return code_for(type(error))


def record_error(kind: type[e.DomainError] | None) -> tuple[str, str]:
    """(code, category) of a batch record refused with this kind of error; a refusal that no record can
    meet (or None: the record failed unexpectedly) counts as the internal error."""
    row = row_for(kind)
    if row is None or row.category is None:
        row = INTERNAL_ERROR
    return row.code, row.category or BUSINESS_ERROR
