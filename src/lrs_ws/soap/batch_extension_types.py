"""This service's own additions to the LRS batch operations (model namespace): a page of jobs
(ListAchievementBatchJobs) and a dry run's result (ValidateAchievementBatch)."""

from __future__ import annotations

from spyne import Array, ComplexModel, Float, Integer, Integer32, Unicode

from lrs_ws.soap.lrs_contract_types import AchievementBatchJobResponse
from lrs_ws.soap.namespaces import MODEL_NS


class AchievementBatchJobList(ComplexModel):
    """ListAchievementBatchJobs: the organisation's jobs, newest first (without their error files)."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("TotalCount", Integer(min_occurs=1, nillable=False)),
        ("Jobs", Array(AchievementBatchJobResponse, type_name="ArrayOfAchievementBatchJobResponse")),
    ]


_REQ = {"min_occurs": 1, "nillable": False}


class AchievementRecordFailure(ComplexModel):
    """One record ValidateAchievementBatch found failing: the error file's row, with its rule."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("Line", Integer(**_REQ)),
        ("MisIdentifier", Unicode(max_len=255)),
        ("Uln", Unicode(max_len=255)),
        ("UnitOrQualificationReferenceNumber", Unicode(max_len=255)),
        ("ErrorCode", Unicode(max_len=10, **_REQ)),
        ("ErrorMessage", Unicode(max_len=500, **_REQ)),
        ("RuleId", Unicode(max_len=40, **_REQ)),
        ("Field", Unicode(max_len=100)),
        ("Value", Unicode(max_len=1000)),
    ]


class AchievementBatchValidationResponse(ComplexModel):
    """ValidateAchievementBatch: the counts the batch job would have had (as GetAchievementBatchJob gives
    them), its error file, and each failing record. Nothing was stored."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("ResponseCode", Unicode(max_len=20)),
        ("AchievementBatchErrorFile", Unicode),
        ("AchievementsCreated", Integer32),
        ("AchievementsPromotedToFinal", Integer32),
        ("AchievementsReinstated", Integer32),
        ("AchievementsUpdated", Integer32),
        ("AchievementsWithdrawn", Integer32),
        ("BusinessRuleErrors", Integer32),
        ("FieldDataErrors", Integer32),
        ("LearnerDataErrors", Integer32),
        ("NumberOfRecords", Integer32),
        ("PercentageSuccessfulRecords", Float),
        ("SuccessfulFinalAchievements", Integer32),
        ("SuccessfulProvisionalAchievements", Integer32),
        ("Type", Unicode(max_len=20)),
        ("FailedRecords", Array(AchievementRecordFailure, type_name="ArrayOfAchievementRecordFailure")),
    ]
