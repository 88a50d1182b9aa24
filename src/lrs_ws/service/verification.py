"""Learner verification (the portal's "Verify Single Learner"): does what an AO holds match the register?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from lrs_ws.domain import model, values
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.verification import Claim, Verification, verify
from lrs_ws.service import audit
from lrs_ws.service.auth import Caller

OP_VERIFY = "verifying learners"


@dataclass(frozen=True)
class VerifiedLearner:
    uln: str
    # The master ULN, only when the ULN given was merged into it and the learner matched.
    master_uln: str | None
    verification: Verification


def check_claim(
    *,
    given_name: str | None,
    family_name: str | None,
    date_of_birth: date | None,
    gender: int | None,
    today: date,
) -> Claim:
    """The learner details a caller supplies, each checked by the register's own field rules."""
    return Claim(
        given_name=values.check_name("GivenName", given_name),
        family_name=values.check_name("FamilyName", family_name),
        date_of_birth=(
            None if date_of_birth is None else values.check_not_future("DateOfBirth", date_of_birth, today)
        ),
        gender=values.check_gender(gender) if gender is not None else None,
    )


def verify_against_register(
    lookup: Callable[[str], model.Learner | None], uln: str, claim: Claim
) -> VerifiedLearner:
    """Verify one learner against the register entries `lookup` finds by ULN; a merged ULN is answered for its
    master's entry."""
    learner = lookup(uln)
    master = lookup(learner.merged_into) if learner and learner.merged_into else None
    entry = master or learner
    answer = verify(claim, entry.register_entry() if entry else None, linked=master is not None)
    shown_master = master.uln if master is not None and answer.matched else None
    return VerifiedLearner(uln, shown_master, answer)


def verify_learner(
    uow: AbstractUnitOfWork,
    *,
    caller: Caller,
    uln: str | None,
    given_name: str | None,
    family_name: str | None,
    date_of_birth: date | None = None,
    gender: int | None = None,
) -> VerifiedLearner:
    """Any AO user may verify any registered learner: the answer is a response code and failure flags,
    never the register's names or dates. Each verification is audited as a sensitive read."""
    caller.require(model.ROLE_AO_USER, OP_VERIFY)
    now = utcnow()
    clean_uln = values.check_uln(uln)
    claim = check_claim(
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        gender=gender,
        today=now.date(),
    )
    with uow:
        found = verify_against_register(uow.learners.by_uln, clean_uln, claim)
        audit.record(
            uow,
            caller,
            "VerifyLearner",
            now,
            after={"Uln": clean_uln, "ResponseCode": found.verification.response_code},
        )
        uow.commit()
        return found
