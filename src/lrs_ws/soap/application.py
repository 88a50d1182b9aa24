"""The Spyne Application: error-to-fault mapping, schema-fault shaping, per-request context and logging."""

from __future__ import annotations

import logging
import time
from typing import Any

import spyne.const
from spyne import Application, Fault
from spyne.const.http import HTTP_500
from spyne.protocol import ProtocolBase
from spyne.protocol.soap import Soap11
from spyne.protocol.xml import SchemaValidationError

from lrs_ws.domain.error_codes import INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE, code_for, error_code
from lrs_ws.domain.errors import DomainError, SchemaInvalid
from lrs_ws.soap import fast_records, fast_requests, fast_results
from lrs_ws.soap.context import Deps, read_username_token, release_request_uow, request_context
from lrs_ws.soap.envelope import ENVELOPE, HEADER, PARSED_ENVELOPE, operation_of
from lrs_ws.soap.faults import domain_fault_element, schema_fault_message
from lrs_ws.soap.guard import silence_spyne_request_logging
from lrs_ws.soap.namespaces import SERVICES_NS
from lrs_ws.soap.validation_schema import build_validation_schema

log = logging.getLogger("lrs_ws.soap")

# Spyne logs every fault with its traceback; our own request log line replaces those.
_SPYNE_FAULT_LOGGERS = (
    "spyne.application",
    "spyne.application.client",
    "spyne.application.server",
    "spyne.server.wsgi",
)


def silence_spyne_logging() -> None:
    """No spyne log line may carry a raw request (passwords) or a traceback."""
    silence_spyne_request_logging()
    for name in _SPYNE_FAULT_LOGGERS:
        lg = logging.getLogger(name)
        lg.setLevel(logging.CRITICAL + 10)
        lg.propagate = False


def domain_fault(code: str, message: str, faultcode: str = "Client") -> Fault:
    detail = domain_fault_element(code, message)
    return Fault(faultcode=faultcode, faultstring=f"{code}: {message}", detail=detail)


class LrsSoap11(Soap11):
    """Soap11 whose schema-validation faults carry a DomainFault (WSEC0001) and never echo input values."""

    validation_schema: Any  # lxml's XMLSchema, built by set_app

    def set_app(self, value):  # type: ignore[no-untyped-def]
        # XmlDocument.set_app, with the validation schema built in memory instead of in TMPDIR files.
        ProtocolBase.set_app(self, value)
        self.validation_schema = None
        if self.validator is self.SCHEMA_VALIDATION and value is not None:
            self.validation_schema = build_validation_schema(self.app.interface.docs.xml_schema)

    def create_in_document(self, ctx, charset=None):  # type: ignore[no-untyped-def]
        # The request guard has parsed and checked the envelope already: take its tree rather than parsing
        # the body a second time (the guard refuses id attributes, so there are no XML ids to resolve).
        req_env = getattr(ctx.transport, "req_env", None) or {}
        envelope = req_env.get(PARSED_ENVELOPE)
        if envelope is None:
            return super().create_in_document(ctx, charset)
        ctx.in_document = (envelope, {})
        return None

    def decompose_incoming_envelope(self, ctx, message=Soap11.REQUEST):  # type: ignore[no-untyped-def]
        # Soap11's own splits the envelope with two XPaths compiled on every call (a third of what reading a
        # small request costs it). The guard's tree has no XML ids to resolve and its Body holds an operation
        # element: plain lookups do the same. Anything else goes Soap11's way.
        envelope, xmlids = ctx.in_document
        operation = operation_of(envelope) if not xmlids and envelope.tag == ENVELOPE else None
        if operation is None:
            return super().decompose_incoming_envelope(ctx, message)
        header = envelope.find(HEADER)
        ctx.in_document = envelope
        ctx.in_header_doc = header.getchildren() if header is not None else None
        ctx.in_body_doc = operation
        ctx.method_request_string = operation.tag
        self.validate_body(ctx, message)
        return None

    def set_validator(self, validator):  # type: ignore[no-untyped-def]
        super().set_validator(validator)
        if self.validator is self.SCHEMA_VALIDATION:
            # Spyne's own validator puts libxml2's raw text (the value received, a bytes repr) in the fault.
            self.validate_document = self._validate_against_schema

    def _validate_against_schema(self, payload: Any) -> None:
        if self.validation_schema.validate(payload):
            return
        entry = self.validation_schema.error_log.last_error
        raise SchemaValidationError(schema_fault_message(entry.message, entry.type_name))

    def serialize(self, ctx, message):  # type: ignore[no-untyped-def]
        try:
            if message is self.RESPONSE and ctx.out_error is None and fast_results.write_response(self, ctx):
                return None
            return super().serialize(ctx, message)
        except Exception as exc:
            if ctx.out_error is not None or message is not self.RESPONSE:
                raise
            # Spyne would answer HTTP 200 with the half-built, empty Envelope: answer a Server fault instead.
            rc = request_context(ctx)
            rc.set_outcome(INTERNAL_ERROR.code)
            log.error(
                "response could not be serialised",
                extra={"request_id": rc.request_id, "operation": rc.operation, "error": type(exc).__name__},
            )
            ctx.out_error = domain_fault(
                INTERNAL_ERROR.code, f"{INTERNAL_ERROR_MESSAGE} (request id {rc.request_id})", "Server"
            )
            ctx.out_document = None
            ctx.transport.resp_code = HTTP_500
            return super().serialize(ctx, message)

    def schema_validation_error_to_parent(self, ctx, cls, inst, parent, ns, **_):  # type: ignore[no-untyped-def]
        message = "The request does not match the service's schema. " + str(
            getattr(inst, "faultstring", "") or ""
        )
        code = code_for(SchemaInvalid)
        fault = domain_fault(code, message.strip())
        request_context(ctx).set_outcome(code)
        return self.fault_to_parent(ctx, Fault, fault, parent, ns)


class LrsApplication(Application):
    """Answers a DomainError with its fault (its code from domain/error_codes.py); anything unexpected
    becomes a generic Server fault."""

    deps: Deps

    def call_wrapper(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().call_wrapper(ctx)
        except DomainError as exc:
            code = error_code(exc)
            request_context(ctx).set_outcome(code)
            raise domain_fault(code, exc.message) from None
        except Fault:
            raise
        except Exception:
            rc = request_context(ctx)
            rc.set_outcome(INTERNAL_ERROR.code)
            log.error(
                "unexpected error",
                exc_info=True,
                extra={"request_id": rc.request_id, "operation": rc.operation},
            )
            raise domain_fault(
                INTERNAL_ERROR.code, f"{INTERNAL_ERROR_MESSAGE} (request id {rc.request_id})", "Server"
            ) from None


def _on_method_call(ctx: Any) -> None:
    rc = request_context(ctx)
    rc.started = time.perf_counter()
    rc.operation = ctx.method_request_string.rsplit("}", 1)[-1] if ctx.method_request_string else ""
    if rc.observation is not None:
        # Reached only for a method the service has, so the operation is one of a closed set of names.
        rc.observation.operation = rc.operation
    try:
        rc.token = read_username_token(getattr(ctx, "in_header_doc", None))
    except DomainError as exc:
        rc.set_outcome(error_code(exc))
        raise domain_fault(error_code(exc), exc.message) from None


def _on_method_done(ctx: Any) -> None:
    release_request_uow(ctx)
    rc = request_context(ctx)
    started = getattr(rc, "started", None)
    outcome = getattr(rc, "outcome", None) or ("ok" if ctx.out_error is None else "fault")
    caller = rc.caller
    obs = rc.observation
    if obs is not None:
        # Behind the RequestObserver, which writes the one log line when the response is finished.
        obs.organisation = caller.organisation_ref if caller else None
        obs.user = caller.username if caller else None
        return
    log.info(
        "request",
        extra={
            "request_id": rc.request_id,
            "operation": rc.operation,
            "organisation": caller.organisation_ref if caller else None,
            "user": caller.username if caller else None,
            "outcome": outcome,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        },
    )


def stop_spyne_forced_collections() -> None:
    """spyne runs a full `gc.collect()` after a request whenever the last one is a second old: 30-50 ms with
    the whole application in memory, the slowest calls of a worker. Nothing here needs it (no request
    leaves open files for the collector to close); Python's own generational collection stays on."""
    spyne.const.MIN_GC_INTERVAL = float("inf")


def build_application(services: list[type], deps: Deps) -> LrsApplication:
    silence_spyne_logging()
    stop_spyne_forced_collections()
    in_protocol = LrsSoap11(validator="lxml")
    fast_records.install(in_protocol)
    app = LrsApplication(
        services,
        tns=SERVICES_NS,
        name="ExternalService",
        in_protocol=in_protocol,
        out_protocol=LrsSoap11(),
    )
    # After the Application: it gives the types their namespaces and the protocols their operations.
    fast_requests.install(app.in_protocol)
    fast_results.install(app.out_protocol)
    app.deps = deps
    app.event_manager.add_listener("method_call", _on_method_call)
    app.event_manager.add_listener("method_return_object", _on_method_done)
    app.event_manager.add_listener("method_exception_object", _on_method_done)
    # Should a call end some other way, its connection still goes back to the pool.
    app.event_manager.add_listener("method_context_closed", release_request_uow)
    return app
