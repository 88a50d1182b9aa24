"""This service's own batch result type (model namespace): a page of jobs."""

from __future__ import annotations

from spyne import Array, ComplexModel, Integer

from lrs_ws.soap.lrs_types import AchievementBatchJobResponse
from lrs_ws.soap.namespaces import MODEL_NS


class AchievementBatchJobList(ComplexModel):
    """ListAchievementBatchJobs: the organisation's jobs, newest first (without their error files)."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("TotalCount", Integer(min_occurs=1, nillable=False)),
        ("Jobs", Array(AchievementBatchJobResponse, type_name="ArrayOfAchievementBatchJobResponse")),
    ]
