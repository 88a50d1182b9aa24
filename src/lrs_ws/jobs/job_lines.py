"""A batch job's (or a dry run's) counts as the operator commands print them."""

from __future__ import annotations

from typing import Any


def outcome_counts(c: Any) -> list[tuple[str, object]]:
    """A job's (or a dry run's) outcome counts, named as GetAchievementBatchJob names them."""
    return [
        ("AchievementsCreated", c.created),
        ("AchievementsUpdated", c.updated),
        ("AchievementsWithdrawn", c.withdrawn),
        ("AchievementsReinstated", c.reinstated),
        ("AchievementsPromotedToFinal", c.promoted),
        ("SuccessfulFinalAchievements", c.successful_final),
        ("SuccessfulProvisionalAchievements", c.successful_provisional),
        ("FieldDataErrors", c.field_errors),
        ("LearnerDataErrors", c.learner_errors),
        ("BusinessRuleErrors", c.business_errors),
        ("PercentageSuccessfulRecords", f"{c.percentage_successful:.2f}"),
    ]


def print_fields(lines: list[tuple[str, object]]) -> None:
    """`Name:` padded to one column, then the value, a line each."""
    for name, value in lines:
        print(f"{name + ':':36}{value}")
