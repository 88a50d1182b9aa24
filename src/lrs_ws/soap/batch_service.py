"""SubmitAchievementBatchJob and GetAchievementBatchJob as the real LRS ExternalService has them, and
ListAchievementBatchJobs. Thin: authenticate, call one use case, convert the result.

The `achievements` arrays are not read by spyne's generic reader: `lrs_ws.soap.application` installs the
faster `Achievement` reader of `lrs_ws.soap.fast_records` on the input protocol (behind the schema
validation), so each element arrives here as a plain object with the 15 `Achievement` attributes. The request
path is then this module -> `lrs_ws.service.batch` (submit) -> `lrs_ws.service.batch_codec` (the stored
chunks) -> the unit of work's batch repositories (the job in `lrs_ws.db.batch_queue`, its records in
`lrs_ws.db.batch_chunks`); a worker does the rest (`lrs_ws.jobs.worker` ->
`lrs_ws.service.batch_processing`)."""

from __future__ import annotations

from typing import Any

from spyne import Array, Integer, Integer32, ServiceBase, Unicode, rpc

from lrs_ws.domain import batch as b
from lrs_ws.domain.error_codes import SUCCESS
from lrs_ws.domain.values import Page
from lrs_ws.service import batch, batch_queries, batch_validation
from lrs_ws.soap import convert
from lrs_ws.soap.batch_extension_types import (
    AchievementBatchJobList,
    AchievementBatchValidationResponse,
    AchievementRecordFailure,
)
from lrs_ws.soap.context import caller_of, deps_of, request_uow
from lrs_ws.soap.lrs_contract_types import (
    Achievement,
    AchievementBatchJobResponse,
    SubmitAchievementBatchJobResponse,
    User,
)


def job_response(job: b.BatchJob, error_file: str | None = None) -> AchievementBatchJobResponse:
    c = job.counts
    return AchievementBatchJobResponse(
        ResponseCode=SUCCESS,
        AchievementBatchErrorFile=error_file,
        AchievementsCreated=c.created,
        AchievementsPromotedToFinal=c.promoted,
        AchievementsReinstated=c.reinstated,
        AchievementsUpdated=c.updated,
        AchievementsWithdrawn=c.withdrawn,
        BusinessRuleErrors=c.business_errors,
        Duration=job.duration,
        EndDate=job.ended_at,
        FieldDataErrors=c.field_errors,
        Filename=job.filename,
        JobID=job.id,
        LearnerDataErrors=c.learner_errors,
        NumberOfRecords=c.records,
        PercentageSuccessfulRecords=c.percentage_successful,
        RejectionReason=job.rejection_reason,
        StartDate=job.started_at,
        Status=job.status,
        SubmittedDate=job.submitted_at,
        SuccessfulFinalAchievements=c.successful_final,
        SuccessfulProvisionalAchievements=c.successful_provisional,
        Type=job.submission_type,
        User=job.username,
    )


def validation_response(v: batch_validation.Validation) -> AchievementBatchValidationResponse:
    c = v.counts
    return AchievementBatchValidationResponse(
        ResponseCode=SUCCESS,
        AchievementBatchErrorFile=v.error_file,
        AchievementsCreated=c.created,
        AchievementsPromotedToFinal=c.promoted,
        AchievementsReinstated=c.reinstated,
        AchievementsUpdated=c.updated,
        AchievementsWithdrawn=c.withdrawn,
        BusinessRuleErrors=c.business_errors,
        FieldDataErrors=c.field_errors,
        LearnerDataErrors=c.learner_errors,
        NumberOfRecords=c.records,
        PercentageSuccessfulRecords=c.percentage_successful,
        SuccessfulFinalAchievements=c.successful_final,
        SuccessfulProvisionalAchievements=c.successful_provisional,
        Type=v.submission_type,
        FailedRecords=[
            AchievementRecordFailure(
                Line=f.line,
                MisIdentifier=f.mis_identifier,
                Uln=f.uln,
                UnitOrQualificationReferenceNumber=f.reference,
                ErrorCode=f.error_code,
                ErrorMessage=f.error_message,
                RuleId=f.rule_id,
                Field=f.field,
                Value=f.value,
            )
            for f in v.records()
        ],
    )


class AchievementBatchService(ServiceBase):
    """Achievement batch jobs, wire-compatible with the LRS ExternalService."""

    @rpc(
        User,
        Unicode(max_len=254),
        Unicode(max_len=40),
        Array(Achievement, type_name="ArrayOfAchievement"),
        _returns=SubmitAchievementBatchJobResponse,
        _out_variable_name="SubmitAchievementBatchJobResult",
    )
    def SubmitAchievementBatchJob(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        emailAddress: str | None,  # noqa: N803
        submissionType: str | None,
        achievements: list[Achievement] | None,  # noqa: N803
    ) -> SubmitAchievementBatchJobResponse:
        """Submit achievements (Action 1 Create, 2 Update, 3 Withdraw, 4 Reinstate) as one batch job, Final or
        Provisional. The job is stored and processed later; poll GetAchievementBatchJob with the JobId."""
        caller = caller_of(ctx, invokingUser)
        deps = deps_of(ctx)
        job_id = batch.submit(
            request_uow(ctx),
            caller=caller,
            email=emailAddress,
            submission_type=submissionType,
            achievements=[convert.achievement_record(a) for a in (achievements or []) if a is not None],
            max_achievements=deps.settings.max_batch_achievements,
            max_queued_records=deps.settings.max_queued_records_per_org,
        )
        return SubmitAchievementBatchJobResponse(ResponseCode=SUCCESS, JobId=job_id)

    @rpc(
        User,
        Unicode(max_len=40),
        Array(Achievement, type_name="ArrayOfAchievement"),
        Unicode(max_len=254),
        _returns=AchievementBatchValidationResponse,
        _out_variable_name="ValidateAchievementBatchResult",
    )
    def ValidateAchievementBatch(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        submissionType: str | None,  # noqa: N803
        achievements: list[Achievement] | None,
        emailAddress: str | None,  # noqa: N803
    ) -> AchievementBatchValidationResponse:
        """Dry run of SubmitAchievementBatchJob: the same request checks and record rules, run in order
        against the current data, answered at once with the counts the job would have had and each failing
        record (with its RuleId and Field; see docs/rules.md). Nothing is stored. emailAddress is optional:
        when given it is checked as SubmitAchievementBatchJob checks it."""
        caller = caller_of(ctx, invokingUser)
        deps = deps_of(ctx)
        return validation_response(
            batch_validation.validate(
                request_uow(ctx),
                caller=caller,
                submission_type=submissionType,
                achievements=[convert.achievement_record(a) for a in (achievements or []) if a is not None],
                max_achievements=deps.settings.max_batch_achievements,
                max_queued_records=deps.settings.max_queued_records_per_org,
                chunk_size=deps.settings.worker_chunk_size,
                email=emailAddress,
            )
        )

    @rpc(
        User,
        Integer32,
        _returns=AchievementBatchJobResponse,
        _out_variable_name="GetAchievementBatchJobResult",
    )
    def GetAchievementBatchJob(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        jobId: int | None,  # noqa: N803
    ) -> AchievementBatchJobResponse:
        """Status, counts, dates and error file (CSV: Line, MisIdentifier, Uln,
        UnitOrQualificationReferenceNumber, ErrorCode, ErrorMessage, then RuleId, Field, Value) of one of your
        organisation's jobs."""
        caller = caller_of(ctx, invokingUser)
        report = batch_queries.get_job(request_uow(ctx), caller=caller, job_id=jobId)
        return job_response(report.job, report.error_file)

    @rpc(
        User,
        Integer,
        Integer,
        _returns=AchievementBatchJobList,
        _out_variable_name="ListAchievementBatchJobsResult",
    )
    def ListAchievementBatchJobs(  # noqa: N802
        ctx: Any,
        invokingUser: User | None,
        pageNumber: int | None,
        pageSize: int | None,  # noqa: N803
    ) -> AchievementBatchJobList:
        """Your organisation's batch jobs, newest first, paged (pageNumber from 1; pageSize default 50)."""
        caller = caller_of(ctx, invokingUser)
        s = deps_of(ctx).settings
        page = Page.of(pageNumber, pageSize, default_size=s.default_page_size, max_size=s.max_page_size)
        total, jobs = batch_queries.list_jobs(request_uow(ctx), caller=caller, page=page)
        return AchievementBatchJobList(TotalCount=total, Jobs=[job_response(j) for j in jobs])
