"""Learner verification (the portal's "Learner Verification" menu) as operations for AO systems. Thin:
authenticate, call one use case, convert the result."""

from __future__ import annotations

from datetime import date
from typing import Any

from spyne import Array, ComplexModel, Date, DateTime, Integer, ServiceBase, Unicode, rpc

from lrs_ws.domain import batch as b
from lrs_ws.domain.error_codes import SUCCESS
from lrs_ws.domain.values import Page
from lrs_ws.service import verification, verify_batch
from lrs_ws.soap.context import caller_of, deps_of, request_uow
from lrs_ws.soap.lrs_contract_types import User
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


class LearnerToVerify(ComplexModel):
    """One learner of a verification batch, checked as VerifyLearner's parameters are."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("Uln", Unicode(max_len=20, **_REQ)),
        ("GivenName", Unicode(max_len=100, **_REQ)),
        ("FamilyName", Unicode(max_len=100, **_REQ)),
        ("DateOfBirth", Date),
        ("Gender", Integer),
    ]


class VerifyBatchResult(ComplexModel):
    """One learner's answer in a verification batch, or the field error that kept it from being verified."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("Line", Integer(**_REQ)),
        ("Uln", Unicode(max_len=20, **_REQ)),
        ("ResponseCode", Unicode(max_len=10)),
        ("FailureFlags", Array(FailureFlag, type_name="ArrayOfFailureFlag")),
        ("MasterUln", Unicode(max_len=10)),
        ("ErrorCode", Unicode(max_len=10)),
        ("ErrorMessage", Unicode(max_len=500)),
    ]


class VerifyBatchJob(ComplexModel):
    """A verification batch job: status, dates, counts and (GetVerifyBatchJob only) its results so far."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("JobId", Integer(**_REQ)),
        ("Status", Unicode(max_len=12, **_REQ)),
        ("Filename", Unicode(max_len=255)),
        ("SubmittedDate", DateTime(**_REQ)),
        ("StartDate", DateTime),
        ("EndDate", DateTime),
        ("NumberOfRecords", Integer(**_REQ)),
        ("LearnersVerified", Integer(**_REQ)),
        ("FieldDataErrors", Integer(**_REQ)),
        ("RejectionReason", Unicode(max_len=1000)),
        ("Results", Array(VerifyBatchResult, type_name="ArrayOfVerifyBatchResult")),
    ]


class SubmitVerifyBatchJobResponse(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("ResponseCode", Unicode(max_len=10, **_REQ)),
        ("JobId", Integer(**_REQ)),
    ]


class VerifyBatchJobList(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [
        ("TotalCount", Integer(**_REQ)),
        ("Jobs", Array(VerifyBatchJob, type_name="ArrayOfVerifyBatchJob")),
    ]


def verify_batch_job(job: b.BatchJob, results: list[b.VerifyResult] | None = None) -> VerifyBatchJob:
    c = job.counts
    return VerifyBatchJob(
        JobId=job.id,
        Status=job.status,
        Filename=job.filename,
        SubmittedDate=job.submitted_at,
        StartDate=job.started_at,
        EndDate=job.ended_at,
        NumberOfRecords=c.records,
        LearnersVerified=c.done - c.failed,
        FieldDataErrors=c.field_errors,
        RejectionReason=job.rejection_reason,
        Results=None
        if results is None
        else [
            VerifyBatchResult(
                Line=r.line_no,
                Uln=r.uln,
                ResponseCode=r.response_code,
                FailureFlags=list(r.failure_flags),
                MasterUln=r.master_uln,
                ErrorCode=r.error_code,
                ErrorMessage=r.error_message,
            )
            for r in results
        ],
    )


def learner_verification(found: verification.VerifiedLearner) -> LearnerVerification:
    return LearnerVerification(
        ResponseCode=found.verification.response_code,
        Uln=found.uln,
        MasterUln=found.master_uln,
        FailureFlags=list(found.verification.failure_flags),
    )


def _uow(ctx: Any):  # type: ignore[no-untyped-def]
    return request_uow(ctx)


class LearnerVerificationService(ServiceBase):
    """Does what an AO holds about a learner match the learner register? (AO_USER of any organisation.)"""

    @rpc(
        User,
        Unicode(max_len=20, **_REQ),
        Unicode(max_len=100, **_REQ),
        Unicode(max_len=100, **_REQ),
        Date,
        Integer,
        _returns=LearnerVerification,
        _out_variable_name="VerifyLearnerResult",
    )
    def VerifyLearner(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        uln: str | None,
        givenName: str | None,  # noqa: N803
        familyName: str | None,
        dateOfBirth: date | None,
        gender: int | None,  # noqa: N803
    ) -> LearnerVerification:
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
                _uow(ctx),
                caller=caller,
                uln=uln,
                given_name=givenName,
                family_name=familyName,
                date_of_birth=dateOfBirth,
                gender=gender,
            )
        )

    @rpc(
        User,
        Array(LearnerToVerify, type_name="ArrayOfLearnerToVerify"),
        _returns=SubmitVerifyBatchJobResponse,
        _out_variable_name="SubmitVerifyBatchJobResult",
    )
    def SubmitVerifyBatchJob(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        learners: list[Any] | None,  # noqa: N803
    ) -> SubmitVerifyBatchJobResponse:
        """Submit up to 5,000 learners to be verified as one batch job (the portal's "Submit Batch Job").
        The job is stored and processed by the workers; poll GetVerifyBatchJob with the JobId."""
        caller = caller_of(ctx, invokingUser)
        job_id = verify_batch.submit(
            _uow(ctx),
            caller=caller,
            learners=[
                verify_batch.LearnerToVerify(x.Uln, x.GivenName, x.FamilyName, x.DateOfBirth, x.Gender)
                for x in (learners or [])
                if x is not None
            ],
            max_queued_records=deps_of(ctx).settings.max_queued_records_per_org,
        )
        return SubmitVerifyBatchJobResponse(ResponseCode=SUCCESS, JobId=job_id)

    @rpc(User, Integer, _returns=VerifyBatchJob, _out_variable_name="GetVerifyBatchJobResult")
    def GetVerifyBatchJob(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        jobId: int | None,  # noqa: N803
    ) -> VerifyBatchJob:
        """Status, counts and per-learner results (in line order; so far, while it runs) of one of your
        organisation's verification jobs. Each result holds ResponseCode and FailureFlags as VerifyLearner
        answers them, or ErrorCode and ErrorMessage for a learner whose details were invalid."""
        caller = caller_of(ctx, invokingUser)
        report = verify_batch.get_job(_uow(ctx), caller=caller, job_id=jobId)
        return verify_batch_job(report.job, list(report.results))

    @rpc(User, Integer, Integer, _returns=VerifyBatchJobList, _out_variable_name="ListVerifyBatchJobsResult")
    def ListVerifyBatchJobs(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        pageNumber: int | None,
        pageSize: int | None,  # noqa: N803
    ) -> VerifyBatchJobList:
        """Your organisation's verification jobs, newest first, paged, without their results (the portal's
        "View Batch Jobs")."""
        caller = caller_of(ctx, invokingUser)
        s = deps_of(ctx).settings
        page = Page.of(pageNumber, pageSize, default_size=s.default_page_size, max_size=s.max_page_size)
        total, jobs = verify_batch.list_jobs(_uow(ctx), caller=caller, page=page)
        return VerifyBatchJobList(TotalCount=total, Jobs=[verify_batch_job(j) for j in jobs])
