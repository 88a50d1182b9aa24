"""Entities and their rules. Plain classes; the db package maps them onto tables."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from lrs_ws.domain.errors import (
    ActionNotVerified,
    InvalidTransition,
    InvalidValue,
    LastAdministrator,
    LearnerNotFound,
    LinkRefused,
    SameUlnTransfer,
    StaleVersion,
)
from lrs_ws.domain.verification import RegisterEntry

ROLE_AO_USER = "AO_USER"
ROLE_EDC_USER = "EDC_USER"
ROLE_LRS_SUPPORT = "LRS_SUPPORT"
# Manages its own organisation's users: adds them, nominates EDC users, deactivates, unlocks.
ROLE_AO_ADMIN = "AO_ADMIN"
ROLES = (ROLE_AO_USER, ROLE_EDC_USER, ROLE_LRS_SUPPORT, ROLE_AO_ADMIN)
# What an organisation's AO_ADMIN may give or take away; LRS_SUPPORT is LRS's own, given only by an operator.
AO_ASSIGNABLE_ROLES = (ROLE_AO_USER, ROLE_EDC_USER, ROLE_AO_ADMIN)


def check_roles(roles: Iterable[str]) -> str:
    """Role names as stored: known, upper case, sorted, comma-separated; at least one."""
    chosen = sorted({r.strip().upper() for r in roles if r.strip()})
    if not chosen or any(r not in ROLES for r in chosen):
        raise InvalidValue("roles", f"roles must be chosen from {', '.join(ROLES)}.")
    return ",".join(chosen)


def check_ao_roles(roles: Iterable[str]) -> frozenset[str]:
    """The roles an AO_ADMIN asks for: at least one, each one it may give."""
    chosen = frozenset(r.strip().upper() for r in roles if r.strip())
    if not chosen or any(r not in AO_ASSIGNABLE_ROLES for r in chosen):
        raise InvalidValue("roles", f"roles must be chosen from {', '.join(AO_ASSIGNABLE_ROLES)}.")
    return chosen


def check_admin_remains(*, acting_on_self: bool, stays_admin: bool, other_active_admins: int) -> None:
    """An organisation keeps at least one active AO_ADMIN: the last one cannot take away its own AO_ADMIN
    role nor deactivate itself (another AO_ADMIN acting on it always leaves that other one)."""
    if acting_on_self and not stays_admin and other_active_admins == 0:
        raise LastAdministrator()


FINAL = "Final"
PROVISIONAL = "Provisional"

EDC_NEW = "New"
EDC_IN_PROGRESS = "InProgress"
EDC_COMPLETE = "Complete"
EDC_STATUSES = (EDC_NEW, EDC_IN_PROGRESS, EDC_COMPLETE)
ACCEPTED = "Accepted"
REJECTED = "Rejected"
DECISIONS = (ACCEPTED, REJECTED)
PROBLEM_TYPES = (
    "GradeIncorrect",
    "AwardDateIncorrect",
    "NotLearnersAchievement",
    "Duplicate",
    "NotCompleted",
)
RECOMMENDED_ACTIONS = ("EditGrade", "UpdateAwardDate", "TransferToLearner", "Delete", "Withdraw")
EDC_DUE_AFTER = timedelta(weeks=5)


class Organisation:
    def __init__(
        self, *, ref: str, name: str, ukprn: str, batch_enabled: bool = False, active: bool = True
    ) -> None:
        self.id: int | None = None
        self.ref = ref
        self.name = name
        self.ukprn = ukprn
        self.batch_enabled = batch_enabled
        # A deactivated organisation's users cannot log in; its data stays as it is.
        self.active = active


def role_set(roles: str) -> frozenset[str]:
    """The roles of a stored comma-separated role list."""
    return frozenset(r for r in roles.split(",") if r)


class User:
    def __init__(
        self,
        *,
        organisation_id: int,
        username: str,
        password_hash: str,
        email: str,
        roles: str,
        active: bool = True,
    ) -> None:
        self.id: int | None = None
        self.organisation_id = organisation_id
        self.username = username
        self.password_hash = password_hash
        self.email = email
        self.roles = roles
        self.active = active

    @property
    def role_set(self) -> frozenset[str]:
        return role_set(self.roles)

    def has_role(self, role: str) -> bool:
        return role in self.role_set

    def set_active(self, active: bool) -> None:
        if self.active == active:
            state = "active" if active else "inactive"
            raise InvalidTransition("user", f"already {state}", "reactivated" if active else "deactivated")
        self.active = active


class LearnerData:
    """A learner on the register and its rules. `Learner` is the same mapped onto its table; the batch worker
    reads a chunk's learners into plain LearnerData (building mapped instances costs more than the rules)."""

    def __init__(
        self,
        *,
        uln: str,
        given_name: str,
        family_name: str,
        date_of_birth: date | None = None,
        gender: int = 0,
        postcode: str | None = None,
        previous_family_name: str | None = None,
        merged_into: str | None = None,
    ) -> None:
        self.id: int | None = None
        self.uln = uln
        self.given_name = given_name
        self.family_name = family_name
        self.date_of_birth = date_of_birth
        self.gender = gender
        self.postcode = postcode
        self.previous_family_name = previous_family_name
        # The master ULN this one was merged into (its achievements are found under the master).
        self.merged_into = merged_into

    def names_match(self, given_name: str, family_name: str) -> bool:
        """Names as an AO sent them match the register, ignoring case and surrounding spaces."""
        return (
            given_name.strip().casefold() == self.given_name.casefold()
            and family_name.strip().casefold() == self.family_name.casefold()
        )

    def register_entry(self) -> RegisterEntry:
        """What verification compares a claim with."""
        return RegisterEntry(
            given_name=self.given_name,
            family_name=self.family_name,
            previous_family_name=self.previous_family_name,
            date_of_birth=self.date_of_birth,
            gender=self.gender,
        )

    def link_into(self, master: LearnerData, *, linked_into_self: Iterable[str]) -> None:
        """Record that this ULN was merged into `master`'s. Links are one level deep: a master is never
        itself linked, so there are no chains or cycles. `linked_into_self`: the ULNs already linked into this
        one."""
        if master.uln == self.uln:
            raise LinkRefused(f"ULN {self.uln} cannot be linked into itself.")
        if self.merged_into is not None:
            raise LinkRefused(f"ULN {self.uln} is already linked into {self.merged_into}.")
        if master.merged_into is not None:
            raise LinkRefused(
                f"ULN {master.uln} is itself linked into {master.merged_into}: link {self.uln} into "
                f"{master.merged_into} instead."
            )
        already = sorted(linked_into_self)
        if already:
            raise LinkRefused(
                f"ULN {self.uln} is the master of {', '.join(already)}: it cannot be linked into another ULN "
                "(links are one level deep)."
            )
        self.merged_into = master.uln


class Learner(LearnerData):
    """A learner on the register (mapped onto the learners table)."""


class Versioned:
    """An entity under optimistic locking: the mapping keeps `version`, a caller may send the one it read."""

    version: int

    def check_version(self, expected: int | None) -> None:
        if expected is not None and expected != self.version:
            raise StaleVersion(expected, self.version)


class AchievementData(Versioned):
    """One learning event on a learner's PLR, owned by the AO that uploaded it: its data and rules.

    `Achievement` is the same mapped onto its table. The batch worker decides a chunk's new achievements as
    plain AchievementData and inserts them in bulk (building mapped instances costs more than the rules).
    """

    def __init__(
        self,
        *,
        organisation_id: int,
        uln: str,
        reference: str,
        title: str,
        aim_type: str,
        level: str,
        grade: str,
        award_date: date,
        language: str = "",
        provider_ukprn: str = "",
        mis_identifier: str = "",
        status: str = FINAL,
        created_at: datetime,
    ) -> None:
        self.id: int | None = None
        self.organisation_id = organisation_id
        self.uln = uln
        self.reference = reference
        self.title = title
        self.aim_type = aim_type
        self.level = level
        self.grade = grade
        self.award_date = award_date
        self.language = language
        self.provider_ukprn = provider_ukprn
        self.mis_identifier = mis_identifier
        self.status = status
        self.withdrawn = False
        self.withdrawn_reason = ""
        self.deleted = False
        self.under_challenge = False
        self.created_at = created_at
        self.updated_at = created_at

    # -- rules ---------------------------------------------------------------------------------

    def _require_live(self, attempted: str) -> None:
        if self.deleted:
            raise InvalidTransition("achievement", "deleted", attempted)

    def edit_grade(self, grade: str, now: datetime) -> None:
        """`grade` as values.check_grade returns it (checked before the achievement is looked up)."""
        self._require_live("edited")
        self.grade = grade
        self.updated_at = now

    def update_details(
        self, *, grade: str, award_date: date, language: str, provider_ukprn: str, now: datetime
    ) -> None:
        self._require_live("updated")
        if self.withdrawn:
            raise InvalidTransition("achievement", "withdrawn", "updated")
        self.grade = grade
        self.award_date = award_date
        self.language = language
        self.provider_ukprn = provider_ukprn
        self.updated_at = now

    def withdraw(self, reason: str, now: datetime) -> None:
        self._require_live("withdrawn")
        if self.withdrawn:
            raise InvalidTransition("achievement", "already withdrawn", "withdrawn")
        self.withdrawn = True
        self.withdrawn_reason = reason
        self.updated_at = now

    def reinstate(self, now: datetime) -> None:
        self._require_live("reinstated")
        if not self.withdrawn:
            raise InvalidTransition("achievement", "not withdrawn", "reinstated")
        self.withdrawn = False
        self.withdrawn_reason = ""
        self.updated_at = now

    def check_transfer(self, new_uln: str, learner: LearnerData | None) -> None:
        """A transfer goes to another ULN than the achievement's own, of a learner on the register
        (`learner`: the register's entry for `new_uln`, None when it has none)."""
        if new_uln == self.uln:
            raise SameUlnTransfer(new_uln)
        if learner is None:
            raise LearnerNotFound(new_uln)

    def transfer_to(self, new_uln: str, learner: LearnerData | None, now: datetime) -> None:
        self._require_live("transferred")
        self.check_transfer(new_uln, learner)
        self.uln = new_uln
        self.updated_at = now

    def delete(self, now: datetime) -> None:
        self._require_live("deleted")
        self.deleted = True
        self.updated_at = now

    def promote_to_final(self, now: datetime) -> bool:
        """True when a Provisional achievement became Final."""
        if self.status == FINAL:
            return False
        self.status = FINAL
        self.updated_at = now
        return True

    def snapshot(self) -> dict[str, Any]:
        """The audited state: what a before/after of a change shows."""
        return {
            "Uln": self.uln,
            "ReferenceNumber": self.reference,
            "Grade": self.grade,
            "AwardDate": self.award_date.isoformat() if self.award_date else None,
            "LanguageForAssessment": self.language,
            "ProviderUkprn": self.provider_ukprn,
            "MisIdentifier": self.mis_identifier,
            "Status": self.status,
            "Withdrawn": self.withdrawn,
            "Deleted": self.deleted,
        }


class Achievement(AchievementData):
    """One learning event on a learner's PLR (mapped onto the achievements table)."""


class EventDataChallenge(Versioned):
    """A challenge raised by LRS Business Support against one achievement."""

    def __init__(
        self,
        *,
        organisation_id: int,
        achievement_id: int,
        uln: str,
        given_name: str,
        family_name: str,
        problem_type: str,
        description: str,
        recommended_action: str,
        supplied_value: str,
        raised_at: datetime,
        raised_by: str,
    ) -> None:
        self.id: int | None = None
        self.organisation_id = organisation_id
        self.achievement_id = achievement_id
        self.uln = uln
        self.given_name = given_name
        self.family_name = family_name
        self.problem_type = problem_type
        self.description = description
        self.recommended_action = recommended_action
        self.supplied_value = supplied_value
        self.status = EDC_NEW
        self.decision: str | None = None
        self.decision_reason = ""
        self.decided_at: datetime | None = None
        self.raised_at = raised_at
        self.raised_by = raised_by
        self.resolved_at: datetime | None = None
        self.due_date = (raised_at + EDC_DUE_AFTER).date()
        self.action_verified = False

    @property
    def reference(self) -> str:
        return format_edc_reference(self.id or 0)

    @property
    def is_open(self) -> bool:
        return self.status != EDC_COMPLETE

    def process(self) -> bool:
        """Opening a New EDC marks it InProgress; True when the status changed."""
        if self.status == EDC_NEW:
            self.status = EDC_IN_PROGRESS
            return True
        return False

    def decide(self, decision: str, reason: str, now: datetime) -> None:
        if self.status == EDC_COMPLETE:
            raise InvalidTransition("EDC", "Complete", f"{decision.lower()}")
        if self.decision is not None:
            raise InvalidTransition("EDC", f"already {self.decision}", f"{decision.lower()}")
        if decision not in DECISIONS:
            raise InvalidTransition("EDC", self.status, f"given the decision {decision!r}")
        self.status = EDC_IN_PROGRESS
        self.decision = decision
        self.decision_reason = reason
        self.decided_at = now

    def check_closable(self) -> None:
        """An EDC is closed once, after its AO has decided it."""
        if self.status == EDC_COMPLETE:
            raise InvalidTransition("EDC", "already Complete", "closed again")
        if self.decision is None:
            raise InvalidTransition("EDC", f"{self.status} with no decision recorded by its AO", "closed")

    def close(self, now: datetime, *, missing: str = "") -> None:
        """A Rejected EDC closes at once, an Accepted one once its corrective action is verified;
        `missing` says what the verification found lacking (for the refusal)."""
        self.check_closable()
        if self.decision == ACCEPTED and not self.action_verified:
            raise ActionNotVerified(
                missing
                or f"the recommended action {self.recommended_action}"
                + (f" ({self.supplied_value})" if self.supplied_value else "")
                + " has not been carried out on the achievement since the EDC was accepted."
            )
        self.status = EDC_COMPLETE
        self.resolved_at = now

    def days_open(self, today: date) -> int:
        end = self.resolved_at.date() if self.resolved_at else today
        return max(0, (end - self.raised_at.date()).days)

    def overdue(self, today: date) -> bool:
        return self.is_open and today > self.due_date


def format_edc_reference(edc_id: int) -> str:
    return f"EDC{edc_id:07d}"


def parse_edc_reference(reference: str | None) -> int | None:
    """The id inside an EDC reference, or None for anything that is not one."""
    text = (reference or "").strip().upper()
    if len(text) != 10 or not text.startswith("EDC") or not text[3:].isdigit():
        return None
    return int(text[3:])


class AuditEvent:
    """One append-only record of a change or sensitive read."""

    def __init__(
        self,
        *,
        at: datetime,
        user_id: int | None,
        username: str,
        organisation_id: int | None,
        operation: str,
        achievement_id: int | None = None,
        edc_id: int | None = None,
        before: str | None = None,
        after: str | None = None,
        request_id: str = "",
        client_certificate: str = "",
        subject_user_id: int | None = None,
    ) -> None:
        self.id: int | None = None
        self.at = at
        self.user_id = user_id
        self.username = username
        self.organisation_id = organisation_id
        self.operation = operation
        self.achievement_id = achievement_id
        self.edc_id = edc_id
        self.before = before
        self.after = after
        self.request_id = request_id
        self.client_certificate = client_certificate
        # The user a user-management change was made to (GetUserHistory reads by it).
        self.subject_user_id = subject_user_id
