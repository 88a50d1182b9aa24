"""The portal's achievement and EDC functions as SOAP operations. Each method is thin: authenticate,
call one use case, convert the result."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from spyne import Boolean, Integer, ServiceBase, Unicode, rpc

from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.error_codes import SUCCESS
from lrs_ws.domain.errors import SchemaInvalid
from lrs_ws.domain.values import Page
from lrs_ws.service import achievements as ach
from lrs_ws.service import edcs, feed
from lrs_ws.soap import convert
from lrs_ws.soap import portal_types as t
from lrs_ws.soap.context import caller_of, deps_of, request_uow
from lrs_ws.soap.lrs_contract_types import Achievement, User

# Parameters without `?` in the contract's signatures are mandatory in the WSDL too.
_REQ = {"min_occurs": 1, "nillable": False}
_Id = Integer(**_REQ)
_Version = Integer
_Uln = Unicode(max_len=20, **_REQ)
_Ref = Unicode(max_len=20, **_REQ)
_Short = Unicode(max_len=40)
_Choice = Unicode(max_len=40, **_REQ)
_Text = Unicode(max_len=1000, **_REQ)


def _page(ctx: Any, number: int | None, size: int | None) -> Page:
    s = deps_of(ctx).settings
    return Page.of(number, size, default_size=s.default_page_size, max_size=s.max_page_size)


def _uow(ctx: Any):  # type: ignore[no-untyped-def]
    return request_uow(ctx)


class AchievementService(ServiceBase):
    """Learner achievements of the caller's organisation (docs/operations-reference.md)."""

    @rpc(
        User,
        _Uln,
        _Short,
        Boolean,
        Integer,
        Integer,
        _returns=t.LearnerAchievements,
        _out_variable_name="GetLearnerAchievementsResult",
    )
    def GetLearnerAchievements(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        uln: str | None,
        sortBy: str | None,  # noqa: N803
        sortDescending: bool | None,
        pageNumber: int | None,
        pageSize: int | None,  # noqa: N803
    ) -> Any:
        """The learner's name and the caller organisation's achievements for a ULN, sorted by ReferenceNumber,
        Type, Level, Grade or AwardDate (ascending unless sortDescending; with no sortBy, newest award first),
        paged, with the total count. A master ULN's achievements include those recorded under the ULNs merged
        into it; a merged ULN answers for its master."""
        caller = caller_of(ctx, invokingUser)
        found = ach.get_learner_achievements(
            _uow(ctx),
            caller=caller,
            uln=uln,
            sort_by=sortBy,
            descending=sortDescending,
            page=_page(ctx, pageNumber, pageSize),
        )
        return SimpleNamespace(  # a t.LearnerAchievements, written by its members (see convert)
            Uln=found.learner.uln,
            GivenName=found.learner.given_name,
            FamilyName=found.learner.family_name,
            TotalCount=found.total,
            Achievements=[convert.achievement_summary(a) for a in found.achievements],
        )

    @rpc(User, _Id, _returns=t.AchievementSummary, _out_variable_name="GetAchievementResult")
    def GetAchievement(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        achievementId: int | None,  # noqa: N803
    ) -> Any:
        """One achievement's summary (aim title, type, reference, grade, level, award date, ...)."""
        caller = caller_of(ctx, invokingUser)
        return convert.achievement_summary(
            ach.get_achievement(_uow(ctx), caller=caller, achievement_id=achievementId)
        )

    @rpc(
        User,
        _Id,
        Unicode(max_len=200, **_REQ),
        _Version,
        _returns=t.AchievementSummary,
        _out_variable_name="EditAchievementGradeResult",
    )
    def EditAchievementGrade(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        achievementId: int | None,
        newGrade: str | None,  # noqa: N803
        expectedVersion: int | None,  # noqa: N803
    ) -> Any:
        """Replace or add the grade: free text of at most 20 characters."""
        caller = caller_of(ctx, invokingUser)
        return convert.achievement_summary(
            ach.edit_grade(
                _uow(ctx),
                caller=caller,
                achievement_id=achievementId,
                new_grade=newGrade,
                expected_version=expectedVersion,
            )
        )

    @rpc(User, _Id, _Version, _returns=t.OperationResult, _out_variable_name="DeleteAchievementResult")
    def DeleteAchievement(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        achievementId: int | None,  # noqa: N803
        expectedVersion: int | None,  # noqa: N803
    ) -> t.OperationResult:
        """Remove the achievement from the learner's PLR; it stays in the audit trail."""
        caller = caller_of(ctx, invokingUser)
        gone = ach.delete(
            _uow(ctx), caller=caller, achievement_id=achievementId, expected_version=expectedVersion
        )
        return t.OperationResult(ResponseCode=SUCCESS, AchievementId=gone.id, Version=gone.version)

    @rpc(User, _Uln, _returns=t.LearnerName, _out_variable_name="FindLearnerByUlnResult")
    def FindLearnerByUln(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        uln: str | None,  # noqa: N803
    ) -> t.LearnerName:
        """The register's given and family name for a ULN, to confirm a transfer target."""
        caller = caller_of(ctx, invokingUser)
        learner = ach.find_learner(_uow(ctx), caller=caller, uln=uln)
        return t.LearnerName(Uln=learner.uln, GivenName=learner.given_name, FamilyName=learner.family_name)

    @rpc(
        User,
        _Id,
        _Uln,
        _Version,
        _returns=t.AchievementSummary,
        _out_variable_name="TransferAchievementResult",
    )
    def TransferAchievement(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        achievementId: int | None,
        newUln: str | None,  # noqa: N803
        expectedVersion: int | None,  # noqa: N803
    ) -> Any:
        """Move the achievement to another learner's ULN."""
        caller = caller_of(ctx, invokingUser)
        return convert.achievement_summary(
            ach.transfer(
                _uow(ctx),
                caller=caller,
                achievement_id=achievementId,
                new_uln=newUln,
                expected_version=expectedVersion,
            )
        )

    @rpc(
        User,
        _Choice,
        Achievement.customize(**_REQ),
        _returns=t.AchievementSummary,
        _out_variable_name="CreateAchievementResult",
    )
    def CreateAchievement(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        submissionType: str | None,  # noqa: N803
        achievement: Achievement | None,  # noqa: N803
    ) -> Any:
        """Create one achievement (the LRS Achievement type; Action 1 or empty), Final or Provisional."""
        caller = caller_of(ctx, invokingUser)
        if achievement is None:
            raise SchemaInvalid("An achievement is required.")
        return convert.achievement_summary(
            ach.create(
                _uow(ctx),
                caller=caller,
                submission_type=submissionType,
                record=convert.achievement_record(achievement),
            )
        )

    @rpc(
        User,
        _Id,
        Unicode(max_len=200),
        _Version,
        _returns=t.AchievementSummary,
        _out_variable_name="WithdrawAchievementResult",
    )
    def WithdrawAchievement(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        achievementId: int | None,
        reason: str | None,  # noqa: N803
        expectedVersion: int | None,  # noqa: N803
    ) -> Any:
        """Withdraw an achievement from the learner's PLR (it can be reinstated)."""
        caller = caller_of(ctx, invokingUser)
        return convert.achievement_summary(
            ach.withdraw(
                _uow(ctx),
                caller=caller,
                achievement_id=achievementId,
                reason=reason,
                expected_version=expectedVersion,
            )
        )

    @rpc(User, _Id, _Version, _returns=t.AchievementSummary, _out_variable_name="ReinstateAchievementResult")
    def ReinstateAchievement(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        achievementId: int | None,  # noqa: N803
        expectedVersion: int | None,  # noqa: N803
    ) -> Any:
        """Reinstate a withdrawn achievement."""
        caller = caller_of(ctx, invokingUser)
        return convert.achievement_summary(
            ach.reinstate(
                _uow(ctx), caller=caller, achievement_id=achievementId, expected_version=expectedVersion
            )
        )

    @rpc(
        User,
        _Id,
        Integer,
        Integer,
        _returns=t.AchievementHistory,
        _out_variable_name="GetAchievementHistoryResult",
    )
    def GetAchievementHistory(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        achievementId: int | None,  # noqa: N803
        pageNumber: int | None,
        pageSize: int | None,  # noqa: N803
    ) -> t.AchievementHistory:
        """The audit trail of one achievement, oldest first (deleted achievements included), paged, with the
        total count."""
        caller = caller_of(ctx, invokingUser)
        found = ach.history(
            _uow(ctx), caller=caller, achievement_id=achievementId, page=_page(ctx, pageNumber, pageSize)
        )
        return t.AchievementHistory(
            AchievementId=achievementId,
            TotalCount=found.total,
            Events=[
                t.AuditEntry(
                    When=h.when, UserName=h.username, Operation=h.operation, Before=h.before, After=h.after
                )
                for h in found.entries
            ],
        )

    @rpc(
        User,
        Unicode(max_len=200),
        Integer,
        _returns=t.AchievementChangeList,
        _out_variable_name="ListAchievementChangesResult",
    )
    def ListAchievementChanges(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        cursor: str | None,
        pageSize: int | None,  # noqa: N803
    ) -> t.AchievementChangeList:
        """The caller organisation's achievement and EDC changes in the order they became visible, each with
        the achievement as the change left it. Start with no cursor; pass each answer's NextCursor to the
        next call: while HasMore is true more are waiting now, and a later call with the last NextCursor
        answers only what changed since. A cursor of another organisation or an altered one is refused
        (WSEC0103). pageSize as for the other lists."""
        caller = caller_of(ctx, invokingUser)
        found = feed.list_changes(
            _uow(ctx), caller=caller, cursor=cursor, page_size=_page(ctx, None, pageSize).size
        )
        return t.AchievementChangeList(
            Changes=[convert.achievement_change(c) for c in found.changes],
            NextCursor=found.next_cursor,
            HasMore=found.has_more,
        )


class EventDataChallengeService(ServiceBase):
    """Event Data Challenges assigned to the caller's organisation (docs/edc.md)."""

    @rpc(
        User,
        _Short,
        Integer,
        Integer,
        _returns=t.EventDataChallengeList,
        _out_variable_name="ListEventDataChallengesResult",
    )
    def ListEventDataChallenges(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        status: str | None,
        pageNumber: int | None,  # noqa: N803
        pageSize: int | None,  # noqa: N803
    ) -> t.EventDataChallengeList:
        """EDCs of the caller's organisation, optionally only New, InProgress or Complete, newest first,
        paged."""
        caller = caller_of(ctx, invokingUser)
        found = edcs.list_edcs(_uow(ctx), caller=caller, status=status, page=_page(ctx, pageNumber, pageSize))
        today = utcnow().date()
        return t.EventDataChallengeList(
            TotalCount=found.total, EventDataChallenges=[convert.edc(e, today) for e in found.items]
        )

    @rpc(User, _Ref, _returns=t.EventDataChallenge, _out_variable_name="ProcessEventDataChallengeResult")
    def ProcessEventDataChallenge(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        reference: str | None,  # noqa: N803
    ) -> t.EventDataChallenge:
        """Full details of one EDC with its achievement summary; a New EDC becomes InProgress."""
        caller = caller_of(ctx, invokingUser)
        d = edcs.process(_uow(ctx), caller=caller, reference=reference)
        return convert.edc(d.edc, utcnow().date(), d.achievement)

    @rpc(
        User,
        _Ref,
        _Choice,
        _Text,
        _Version,
        _returns=t.EventDataChallenge,
        _out_variable_name="RecordEventDataChallengeDecisionResult",
    )
    def RecordEventDataChallengeDecision(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        reference: str | None,
        decision: str | None,  # noqa: N803
        reason: str | None,
        expectedVersion: int | None,  # noqa: N803
    ) -> t.EventDataChallenge:
        """Accept or Reject the EDC (and its recommended action), with a reason."""
        caller = caller_of(ctx, invokingUser)
        d = edcs.record_decision(
            _uow(ctx),
            caller=caller,
            reference=reference,
            decision=decision,
            reason=reason,
            expected_version=expectedVersion,
        )
        return convert.edc(d.edc, utcnow().date(), d.achievement)
