"""Domain errors. Each carries structured attributes; domain/error_codes.py gives each type its ErrorCode."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the service can give. `message` is safe to show to a caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SchemaInvalid(DomainError):
    """The request does not have the shape the contract requires."""


class AuthenticationFailed(DomainError):
    """Credentials were not accepted. The message never says which part was wrong."""

    def __init__(self) -> None:
        super().__init__("Authentication failed: the user name, password or organisation is not valid.")


class AccessDenied(DomainError):
    """The caller is authenticated but its roles do not allow the operation."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"Insufficient access: your roles do not allow {operation}.")
        self.operation = operation


class InvalidUln(DomainError):
    def __init__(self, value: str) -> None:
        super().__init__("The ULN is not valid: it must be 10 digits with a correct check digit.")
        self.value = value


# What is wrong with a field's value (InvalidValue.problem): the record rules tell their refusals apart by it.
PROBLEM_FORMAT = "format"
PROBLEM_REQUIRED = "required"
PROBLEM_TOO_LONG = "too long"
PROBLEM_CONTROL = "control characters"
PROBLEM_FUTURE = "in the future"


class InvalidValue(DomainError):
    """A field's value breaks a format rule (length, pattern, range); `problem` says which kind."""

    def __init__(self, field: str, message: str, problem: str = PROBLEM_FORMAT) -> None:
        super().__init__(message)
        self.field = field
        self.problem = problem


class GradeTooLong(InvalidValue):
    def __init__(self, length: int, maximum: int) -> None:
        super().__init__(
            "Grade",
            f"The grade is {length} characters long; at most {maximum} are allowed.",
            PROBLEM_TOO_LONG,
        )
        self.length = length
        self.maximum = maximum


class NotFound(DomainError):
    """Missing, or belonging to another organisation: the two are indistinguishable on purpose."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"No {kind} {key} was found for your organisation.")
        self.kind = kind
        self.key = key


class LearnerNotFound(NotFound):
    def __init__(self, uln: str) -> None:
        super().__init__("learner with ULN", uln)
        self.message = f"No learner with ULN {uln} is on the register."


class UnknownUser(NotFound):
    """No such user, for an operator: said plainly (the command line is trusted; no caller's view to keep)."""

    def __init__(self, username: str, organisation_ref: str | None = None) -> None:
        super().__init__("user", username)
        self.organisation_ref = organisation_ref
        where = f" in organisation {organisation_ref}" if organisation_ref else ""
        self.message = f"No user {username}{where}."


class UnknownOrganisation(NotFound):
    """No such organisation, for an operator."""

    def __init__(self, ref: str) -> None:
        super().__init__("organisation", ref)
        self.message = f"No organisation {ref}."


class StaleVersion(DomainError):
    def __init__(self, expected: int | None, actual: int | None) -> None:
        super().__init__(
            "The record has been updated since you last obtained it"
            + (
                f" (you sent version {expected}, it is now version {actual})."
                if expected is not None
                else "."
            )
        )
        self.expected = expected
        self.actual = actual


class InvalidTransition(DomainError):
    """A state change the lifecycle does not allow."""

    def __init__(self, what: str, current: str, attempted: str) -> None:
        super().__init__(f"The {what} is {current}; it cannot be {attempted}.")
        self.what = what
        self.current = current
        self.attempted = attempted


class SameUlnTransfer(DomainError):
    def __init__(self, uln: str) -> None:
        super().__init__(f"The achievement already belongs to ULN {uln}; choose another learner.")
        self.uln = uln


class DuplicateAchievement(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "An identical achievement already exists on this learner's record for your organisation."
        )


class AmbiguousTarget(DomainError):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} achievements match; add a MisIdentifier to choose one.")
        self.count = count


class FutureDate(InvalidValue):
    def __init__(self, field: str) -> None:
        super().__init__(field, f"{field} cannot be in the future.", PROBLEM_FUTURE)


class ActionNotVerified(DomainError):
    """An Accepted EDC cannot be closed before its corrective action is seen in the audit trail."""

    def __init__(self, missing: str) -> None:
        super().__init__(f"The EDC cannot be closed: {missing}")
        self.missing = missing


class UnknownJob(DomainError):
    def __init__(self, job_id: object, *, operator: bool = False) -> None:
        # An operator sees every organisation's jobs: "for your organisation" would mislead there.
        super().__init__(
            f"No batch job {job_id}."
            if operator
            else f"Batch job {job_id} was not found for your organisation."
        )
        self.job_id = job_id


class LearnerMismatch(DomainError):
    def __init__(self) -> None:
        super().__init__("The learner's names do not match the register for this ULN.")


class BatchRefused(DomainError):
    """A whole batch request is refused before any job is created (each kind has an LRS response code)."""


class BatchNotEnabled(BatchRefused):
    def __init__(self) -> None:
        super().__init__("Your organisation is not configured to submit achievement batches.")


class BatchEmailInvalid(BatchRefused):
    """The job's e-mail address is not exactly one plain address."""


class SubmissionTypeInvalid(BatchRefused):
    def __init__(self) -> None:
        super().__init__("The submission type must be Final or Provisional.")


class TooManyAchievements(BatchRefused):
    def __init__(self, count: int, maximum: int) -> None:
        super().__init__(f"A request may hold at most {maximum} achievements; it held {count}.")
        self.count = count
        self.maximum = maximum


class NoAchievements(BatchRefused):
    """A request or file without a single achievement."""


class TooManyLearners(BatchRefused):
    def __init__(self, count: int, maximum: int) -> None:
        super().__init__(f"A verification batch may hold at most {maximum} learners; it held {count}.")
        self.count = count
        self.maximum = maximum


class NoLearners(BatchRefused):
    """A verification batch (request or file) without a single learner."""


class QueueFull(DomainError):
    """A batch would put more of one organisation's records in the queue than it may hold waiting; nothing
    was stored."""

    def __init__(self, waiting: int, submitted: int, limit: int) -> None:
        super().__init__(
            f"Too many records waiting: your organisation has {waiting} records waiting to be processed "
            f"and this batch holds {submitted}; at most {limit} may wait. Submit it when earlier jobs have "
            "finished."
        )
        self.waiting = waiting
        self.submitted = submitted
        self.limit = limit


class ServiceUnavailable(DomainError):
    """The database cannot be reached or written for now; nothing was applied and the call may be retried."""

    def __init__(self) -> None:
        super().__init__("The service is temporarily unavailable; nothing was changed. Try again shortly.")


class UnderMaintenance(ServiceUnavailable):
    """Planned maintenance: the same temporary unavailability, with the expected end in its message."""

    def __init__(self, message: str) -> None:
        DomainError.__init__(self, message)


class TooManyAttempts(AuthenticationFailed):
    """Too many failed logins: answered exactly like any other authentication failure."""


class LastAdministrator(DomainError):
    """The organisation's last active AO_ADMIN tried to remove its own AO_ADMIN role or deactivate itself."""

    def __init__(self) -> None:
        super().__init__(
            "You are the last active AO_ADMIN of your organisation: give another user the AO_ADMIN role "
            "before you remove your own or deactivate yourself."
        )


class InvalidPasswordToken(DomainError):
    """A one-time password token that is unknown, used or expired, or too many tries from one address:
    all answered alike, so the answer tells nothing about which tokens exist."""

    def __init__(self) -> None:
        super().__init__(
            "The password token is not valid: it is unknown, already used or expired. Ask an AO_ADMIN of "
            "your organisation for a new one."
        )


class PasswordRejected(DomainError):
    """A new password breaks the password rules (lrs_ws.domain.passwords); `rule` names which one."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class LinkRefused(DomainError):
    """A ULN cannot be linked (merged) into another: itself, a chain, or one already linked."""
