"""LRS Business Support's EDC operations: raising a challenge and closing it (docs/edc.md)."""

from __future__ import annotations

from typing import Any

from spyne import Integer, ServiceBase, Unicode, rpc

from lrs_ws.domain.clock import utcnow
from lrs_ws.service import edc_lifecycle
from lrs_ws.soap import convert
from lrs_ws.soap import portal_types as t
from lrs_ws.soap.context import caller_of, request_uow
from lrs_ws.soap.lrs_contract_types import User


def _uow(ctx: Any):  # type: ignore[no-untyped-def]
    return request_uow(ctx)


class EventDataChallengeAdminService(ServiceBase):
    """Raising and closing Event Data Challenges; LRS Business Support (LRS_SUPPORT) only."""

    @rpc(
        User,
        Integer,
        Unicode(max_len=30),
        Unicode(max_len=1000),
        Unicode(max_len=30),
        Unicode(max_len=50),
        _returns=t.EventDataChallenge,
        _out_variable_name="RaiseEventDataChallengeResult",
    )
    def RaiseEventDataChallenge(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        achievementId: int | None,
        problemType: str | None,  # noqa: N803
        description: str | None,
        recommendedAction: str | None,
        suppliedValue: str | None,  # noqa: N803
    ) -> t.EventDataChallenge:
        """Raise an EDC against an achievement of any organisation. problemType: GradeIncorrect,
        AwardDateIncorrect, NotLearnersAchievement, Duplicate or NotCompleted. recommendedAction:
        EditGrade (suppliedValue: the correct grade, at most 20 characters), UpdateAwardDate
        (suppliedValue: the correct award date, YYYY-MM-DD, not in the future), TransferToLearner
        (suppliedValue: the ULN of the learner it belongs to), Delete or Withdraw (no suppliedValue).
        The achievement shows UnderDataChallenge Y and the organisation's EDC users are e-mailed."""
        caller = caller_of(ctx, invokingUser)
        raised = edc_lifecycle.raise_edc(
            _uow(ctx),
            caller=caller,
            achievement_id=achievementId,
            problem_type=problemType,
            description=description,
            recommended_action=recommendedAction,
            supplied_value=suppliedValue,
        )
        return convert.edc(raised.edc, utcnow().date(), raised.achievement)

    @rpc(
        User,
        Unicode(max_len=20),
        _returns=t.EventDataChallenge,
        _out_variable_name="CloseEventDataChallengeResult",
    )
    def CloseEventDataChallenge(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        reference: str | None,  # noqa: N803
    ) -> t.EventDataChallenge:
        """Close an EDC (status Complete, DateResolved set). A Rejected EDC closes at once; an Accepted
        one only when its recommended action is verified in the audit trail, otherwise the fault says
        what is still missing."""
        caller = caller_of(ctx, invokingUser)
        closed = edc_lifecycle.close_edc(_uow(ctx), caller=caller, reference=reference)
        return convert.edc(closed.edc, utcnow().date(), closed.achievement)
