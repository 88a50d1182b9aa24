"""The least the service's framework costs per call: `gunicorn benchmarks.spyne_floor:application`, and
`benchmarks.spyne_floor:duties`, the same behind the service's front layers.

A spyne application made as the service's is (`build_application`: the same in and out protocols, schema
validation, the fast answer writer, the same event listeners) offering GetLearnerAchievements and
GetAchievement with the service's request and answer types. Each distinct request is answered once by the
service's own use cases (authentication, the reads, the conversion), and every later identical request from
memory: what a call then costs is spyne's work alone (reading and validating the request, dispatch, events,
writing the answer), plus gunicorn's. No hostile-input guard, request log line or metrics either.

`duties` is the same application behind what `lrs_ws.app.front` puts before every request of the service:
the Router (request id, the JSON log line, metrics) and the hostile-input guard (size limit, the guarded
parse whose tree spyne then reads). A call to it costs spyne, gunicorn and the per-request duties the service
owes every caller, and nothing of authentication or the reads.

`benchmarks.read` runs both beside the service and the raw handler: raw/floor is the best raw/service ratio
any service built on spyne could reach, whatever it did about its own work, and raw/duties the best one of a
service on spyne that also guards, logs and counts each request.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from spyne import Boolean, Integer, ServiceBase, Unicode, rpc
from spyne.server.wsgi import WsgiApplication

from lrs_ws.app import front, wire
from lrs_ws.config import Settings
from lrs_ws.domain.values import Page
from lrs_ws.observability.logs import configure_logging
from lrs_ws.service import achievements as ach
from lrs_ws.service.auth import Caller, authenticate
from lrs_ws.soap import convert
from lrs_ws.soap import portal_types as t
from lrs_ws.soap.application import build_application
from lrs_ws.soap.context import Deps
from lrs_ws.soap.lrs_contract_types import User

_settings = Settings.from_env()
_wiring = wire(_settings)
_answers: dict[tuple[Any, ...], Any] = {}


def _answer(key: tuple[Any, ...], user: Any, work: Callable[[Caller], Any]) -> Any:
    """The service's answer to this request, worked out on its first occurrence only."""
    key = (*key, user.UserName, user.OrgPassword, user.OrganisationRef)
    if key not in _answers:
        caller = authenticate(
            _wiring.uow_factory(),
            username=user.UserName,
            password=user.OrgPassword,
            organisation_ref=user.OrganisationRef,
        )
        _answers[key] = work(caller)
    return _answers[key]


class FloorService(ServiceBase):
    @rpc(
        User,
        Unicode,
        Unicode,
        Boolean,
        Integer,
        Integer,
        _returns=t.LearnerAchievements,
        _out_variable_name="GetLearnerAchievementsResult",
    )
    def GetLearnerAchievements(  # noqa: N802
        ctx: Any,
        invokingUser: Any,  # noqa: N803
        uln: str | None,
        sortBy: str | None,  # noqa: N803
        sortDescending: bool | None,  # noqa: N803
        pageNumber: int | None,  # noqa: N803
        pageSize: int | None,  # noqa: N803
    ) -> Any:
        def work(caller: Caller) -> Any:
            page = Page.of(
                pageNumber,
                pageSize,
                default_size=_settings.default_page_size,
                max_size=_settings.max_page_size,
            )
            found = ach.get_learner_achievements(
                _wiring.uow_factory(),
                caller=caller,
                uln=uln,
                sort_by=sortBy,
                descending=sortDescending,
                page=page,
            )
            return SimpleNamespace(
                Uln=found.learner.uln,
                GivenName=found.learner.given_name,
                FamilyName=found.learner.family_name,
                TotalCount=found.total,
                Achievements=[convert.achievement_summary(a) for a in found.achievements],
            )

        return _answer(("learner", uln, sortBy, sortDescending, pageNumber, pageSize), invokingUser, work)

    @rpc(User, Integer, _returns=t.AchievementSummary, _out_variable_name="GetAchievementResult")
    def GetAchievement(ctx: Any, invokingUser: Any, achievementId: int | None) -> Any:  # noqa: N802, N803
        def work(caller: Caller) -> Any:
            found = ach.get_achievement(_wiring.uow_factory(), caller=caller, achievement_id=achievementId)
            return convert.achievement_summary(found)

        return _answer(("achievement", achievementId), invokingUser, work)


application = WsgiApplication(build_application([FloorService], Deps(_settings, _wiring.uow_factory)))
configure_logging(_settings)
duties = front(application, _settings, _wiring)
# As lrs_ws.wsgi does: what start-up built stays out of the collector's full passes.
gc.freeze()
