"""create_app(settings): the one place that wires the database, the services and the HTTP endpoints."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from spyne.server.wsgi import WsgiApplication
from sqlalchemy import Engine

from lrs_ws.config import Settings
from lrs_ws.db.engine import make_engine, make_session_factory
from lrs_ws.db.migrate import readiness
from lrs_ws.db.monitoring import DatabaseGauges
from lrs_ws.db.tables import start_mappers
from lrs_ws.db.uow import SqlAlchemyUnitOfWork
from lrs_ws.domain.errors import ServiceUnavailable
from lrs_ws.observability.metrics import MetricsEndpoint
from lrs_ws.observability.requests import RequestObserver
from lrs_ws.service.maintenance import MaintenanceStatus
from lrs_ws.soap.achievement_service import AchievementService, EventDataChallengeService
from lrs_ws.soap.application import build_application
from lrs_ws.soap.batch_service import AchievementBatchService
from lrs_ws.soap.context import Deps
from lrs_ws.soap.edc_admin_service import EventDataChallengeAdminService
from lrs_ws.soap.user_admin_service import UserAdministrationService
from lrs_ws.soap.verification_service import LearnerVerificationService
from lrs_ws.soap.wsdl import canonical_wsdl

log = logging.getLogger("lrs_ws.app")

SOAP_PATH = "/ExternalService.svc"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def soap_services() -> list[type]:
    return [
        AchievementService,
        EventDataChallengeService,
        EventDataChallengeAdminService,
        AchievementBatchService,
        UserAdministrationService,
        LearnerVerificationService,
    ]


@dataclass
class Wiring:
    """The concrete pieces one process uses; kept so the CLI and workers share them."""

    settings: Settings
    engine: Engine
    uow_factory: Callable[[], SqlAlchemyUnitOfWork]


def wire(settings: Settings) -> Wiring:
    start_mappers()
    if settings.database_prepared_statements or settings.database_url.startswith("sqlite"):
        engine = make_engine(settings.database_url)
    else:
        # Behind PgBouncer in transaction pooling (before 1.21): never prepare a statement server-side.
        engine = make_engine(settings.database_url, connect_args={"prepare_threshold": None})
    session_factory = make_session_factory(engine)
    return Wiring(settings, engine, lambda: SqlAlchemyUnitOfWork(session_factory))


def build_soap_wsgi(settings: Settings, deps: Deps) -> WsgiApplication:
    """The Spyne WSGI app with its WSDL built once, from LRS_WS_PUBLIC_URL (never a request's Host)."""
    spyne_app = build_application(soap_services(), deps)
    wsgi = WsgiApplication(spyne_app, max_content_length=settings.max_request_bytes)
    wsgi.doc.wsdl11.build_interface_document(settings.public_url)
    wsgi._wsdl = canonical_wsdl(wsgi.doc.wsdl11.get_interface_document())
    return wsgi


def wsdl_text(settings: Settings) -> str:
    """The WSDL this service publishes (no database needed)."""
    start_mappers()
    deps = Deps(settings=settings, uow_factory=lambda: None)  # type: ignore[arg-type,return-value]
    wsgi = build_soap_wsgi(settings, deps)
    return wsgi._wsdl.decode("utf-8") if isinstance(wsgi._wsdl, bytes) else str(wsgi._wsdl)


def fault_envelope_for_observer(code: str, message: str) -> bytes:
    from lrs_ws.soap.faults import fault_envelope

    return fault_envelope(code, message, "soap:Server")


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


class Router:
    """Dispatches by path: the SOAP endpoint, /healthz, /readyz, `extra` paths (/metrics), 404 for the rest.

    Every request goes through the RequestObserver first (request id, JSON log line, metrics).
    """

    def __init__(self, soap: WsgiApp, engine: Engine, maintenance: MaintenanceStatus) -> None:
        self.soap = soap
        self.engine = engine
        self.maintenance = maintenance
        self.extra: dict[str, WsgiApp] = {}
        self.observer = RequestObserver(self.dispatch, SOAP_PATH, fault_envelope_for_observer)

    def healthz(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """Liveness: the process answers. It does not look at the database (that is /readyz)."""
        return _json(start_response, "200 OK", {"status": "ok"})

    def readyz(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """Readiness: the database answers and its schema is at the head revision; it also says whether a
        planned maintenance window is open."""
        problem = readiness(self.engine)
        if problem is not None:
            log.warning("not ready", extra={"reason": problem.reason})
            body = {"status": "unavailable", "reason": problem.reason}
            return _json(start_response, "503 Service Unavailable", body)
        try:
            window = self.maintenance.current()
        except ServiceUnavailable:
            window = None  # the database stopped answering since the check above; the next check says so
        if window is None:
            return _json(start_response, "200 OK", {"status": "ok", "maintenance": None})
        # Still 200: every operation answers (WSEC0004 with the expected end), so a proxy should keep sending
        # requests here rather than answer clients with an error page of its own.
        return _json(start_response, "200 OK", {"status": "maintenance", "maintenance": window.as_json()})

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.observer(environ, start_response)

    def dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path == SOAP_PATH or path == SOAP_PATH + "/":
            return self.soap(environ, start_response)
        if path == "/healthz":
            return self.healthz(environ, start_response)
        if path == "/readyz":
            return self.readyz(environ, start_response)
        if path in self.extra:
            return self.extra[path](environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not found. The service is at /ExternalService.svc (WSDL: ?wsdl).\n"]


def create_app(settings: Settings) -> Router:
    """The WSGI application for one process."""
    from lrs_ws.observability.logs import configure_logging

    configure_logging(settings)
    wiring = wire(settings)
    deps = Deps(settings=settings, uow_factory=wiring.uow_factory)
    return front(build_soap_wsgi(settings, deps), settings, wiring)


def front(soap_wsgi: WsgiApplication, settings: Settings, wiring: Wiring) -> Router:
    """What every request meets before and after the SOAP application: the Router (request id, log line,
    metrics, /healthz, /readyz, /metrics) and the hostile-input guard."""
    from lrs_ws.soap.guard import RequestGuard

    maintenance = MaintenanceStatus(wiring.uow_factory)
    soap = RequestGuard(soap_wsgi, settings, maintenance=maintenance)
    router = Router(soap, wiring.engine, maintenance)
    gauges = DatabaseGauges(wiring.engine)
    router.extra["/metrics"] = MetricsEndpoint(lambda: [gauges])
    router.wiring = wiring  # type: ignore[attr-defined]
    return router
