"""Achievement batch jobs and their records (on the shared `metadata`).

A job row carries its lease (who processes it, until when) so a crashed worker's job is taken up again, and
`records_done`, the worker's cursor: records before it are processed. Payload rows hold the submitted records;
a record row holds one processed record's outcome, written in the same transaction as the change it made.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from lrs_ws.db.tables import metadata

batch_jobs = Table(
    "batch_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation_id", Integer, ForeignKey("organisations.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("username", String(100), nullable=False),
    Column("email", String(254), nullable=False),
    Column("submission_type", String(12), nullable=False),
    Column("source", String(10), nullable=False),
    Column("filename", String(255), nullable=True),
    Column("status", String(12), nullable=False),
    Column("submitted_at", DateTime, nullable=False),
    Column("started_at", DateTime, nullable=True),
    Column("ended_at", DateTime, nullable=True),
    Column("record_count", Integer, nullable=False, default=0),
    Column("records_done", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("withdrawn", Integer, nullable=False, default=0),
    Column("reinstated", Integer, nullable=False, default=0),
    Column("promoted", Integer, nullable=False, default=0),
    Column("field_errors", Integer, nullable=False, default=0),
    Column("learner_errors", Integer, nullable=False, default=0),
    Column("business_errors", Integer, nullable=False, default=0),
    Column("successful_final", Integer, nullable=False, default=0),
    Column("successful_provisional", Integer, nullable=False, default=0),
    Column("rejection_reason", String(1000), nullable=True),
    Column("worker_id", String(100), nullable=True),
    Column("lease_expires_at", DateTime, nullable=True),
    Column("heartbeat_at", DateTime, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    # When the job's stored records and outcomes were deleted after the retention period (its counts stay).
    Column("purged_at", DateTime, nullable=True),
    # What the job does: `Achievement` (an achievement batch) or `Verify` (a learner verification batch).
    Column("kind", String(12), nullable=False, default="Achievement", server_default="Achievement"),
    # The worker's claim: Waiting jobs, or InProgress ones whose lease ran out, oldest first.
    Index("ix_batch_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    # ListAchievementBatchJobs: one organisation's jobs, newest first.
    Index("ix_batch_jobs_organisation_id_id", "organisation_id", "id"),
)

batch_records = Table(
    "batch_records",
    metadata,
    # One row per processed record, written in the same transaction as the change it made (or its refusal);
    # a record not processed yet has none. (job_id, line_no) is unique: a record is done only once.
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("batch_jobs.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    # The record as submitted (JSON), kept for failed records only: the error file quotes it.
    Column("payload", Text, nullable=True),
    Column("state", String(10), nullable=False),
    Column("outcome", String(20), nullable=True),
    Column("promoted", Boolean, nullable=False, default=False),
    Column("achievement_status", String(12), nullable=True),
    Column("achievement_id", Integer, nullable=True),
    Column("error_code", String(10), nullable=True),
    Column("error_category", String(20), nullable=True),
    Column("error_message", String(500), nullable=True),
    # The record rule a failed record broke (service/record_rules.py) and the field(s) it concerns.
    Column("rule_id", String(40), nullable=True),
    Column("field", String(100), nullable=True),
    UniqueConstraint("job_id", "line_no"),
    # The error file: a job's failed records in line order.
    Index("ix_batch_records_job_id_state_line_no", "job_id", "state", "line_no"),
)

batch_payloads = Table(
    "batch_payloads",
    metadata,
    # A job's records as submitted, in order, many to a row (a JSON array of [line, 15 fields]): submitting
    # writes one row per thousand records, and a worker reads its chunk's records in one or two rows.
    # `first_index` is the position (from 0) of the row's first record in the job.
    Column("job_id", Integer, ForeignKey("batch_jobs.id"), primary_key=True),
    Column("first_index", Integer, primary_key=True),
    Column("record_count", Integer, nullable=False),
    Column("records", Text, nullable=False),
)

verify_results = Table(
    "verify_results",
    metadata,
    # One row per verified learner of a `Verify` job, written in the same transaction as the job's cursor:
    # the response code and failure flags, or the field error that kept the learner from being verified.
    Column("job_id", Integer, ForeignKey("batch_jobs.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("uln", String(20), nullable=False),
    Column("response_code", String(10), nullable=True),
    Column("failure_flags", String(40), nullable=True),
    Column("master_uln", String(10), nullable=True),
    Column("error_code", String(10), nullable=True),
    Column("error_message", String(500), nullable=True),
)

maintenance_runs = Table(
    "maintenance_runs",
    metadata,
    # One row per periodic task (`purge`): the worker that moves `last_run_at` on with a conditional UPDATE
    # runs it, so it runs once a period however many workers share the database.
    Column("name", String(50), primary_key=True),
    Column("last_run_at", DateTime, nullable=True),
)

__all__ = ["batch_jobs", "batch_payloads", "batch_records", "maintenance_runs", "verify_results"]
