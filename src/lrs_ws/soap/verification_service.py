"""Learner verification (the portal's "Learner Verification" menu) as operations for AO systems. Thin:
authenticate, call one use case, convert the result."""

from __future__ import annotations

from typing import Any

from spyne import Array, ComplexModel, Date, Integer, ServiceBase, Unicode, rpc

from lrs_ws.service import verification
from lrs_ws.soap.context import caller_of, deps_of
from lrs_ws.soap.lrs_types import User
from lrs_ws.soap.namespaces import MODEL_NS

_REQ = {"min_occurs": 1, "nillable": False}
FailureFlag = Unicode(max_len=4, type_name="FailureFlag", __namespace__=MODEL_NS)


class LearnerVerification(ComplexModel):
    """The answer for one learner: a response code WSVRC001-006 and the failure flags VRF1-8; MasterUln only
    for a linked match (WSVRC002/004)."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("ResponseCode", Unicode(max_len=10, **_REQ)),
        ("Uln", Unicode(max_len=10, **_REQ)),
        ("MasterUln", Unicode(max_len=10)),
        ("FailureFlags", Array(FailureFlag, type_name="ArrayOfFailureFlag")),
    ]


def learner_verification(found: verification.VerifiedLearner) -> LearnerVerification:
    return LearnerVerification(
        ResponseCode=found.verification.response_code,
        Uln=found.uln,
        MasterUln=found.master_uln,
        FailureFlags=list(found.verification.failure_flags),
    )


def _uow(ctx: Any):  # type: ignore[no-untyped-def]
    return deps_of(ctx).uow_factory()


class LearnerVerificationService(ServiceBase):
    """Does what an AO holds about a learner match the learner register? (AO_USER of any organisation.)"""

    @rpc(User, Unicode(max_len=20, **_REQ), Unicode(max_len=100, **_REQ), Unicode(max_len=100, **_REQ), Date,
         Integer, _returns=LearnerVerification, _out_variable_name="VerifyLearnerResult")
    def VerifyLearner(ctx, invokingUser, uln, givenName, familyName, dateOfBirth, gender):  # noqa: N802,N803
        """Verify one learner against the register. ResponseCode: WSVRC001 exact match, WSVRC002 linked
        match (the ULN was merged into MasterUln), WSVRC003 similar match, WSVRC004 linked similar match,
        WSVRC005 the learner does not match, WSVRC006 ULN not found. FailureFlags: VRF1 given name vs given
        name, VRF2 given name vs family name, VRF3 given name vs previous family name, VRF4 family name vs
        given name, VRF5 family name vs family name, VRF6 family name vs previous family name, VRF7 date of
        birth, VRF8 gender. Nothing else about the register entry is returned. gender: 0 unknown, 1 male,
        2 female, 9 not specified."""
        caller = caller_of(ctx, invokingUser)
        return learner_verification(
            verification.verify_learner(
                _uow(ctx), caller=caller, uln=uln, given_name=givenName, family_name=familyName,
                date_of_birth=dateOfBirth, gender=gender,
            )
        )
