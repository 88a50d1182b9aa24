"""Administration use cases behind the `lrs-ws org|user|learner` commands."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TextIO

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.passwords import new_password_hash
from lrs_ws.service.clock import utcnow
from lrs_ws.service.uow import AbstractUnitOfWork


def add_organisation(
    uow: AbstractUnitOfWork, *, ref: str, name: str, ukprn: str, batch_enabled: bool
) -> model.Organisation:
    clean_ref = values.check_org_ref(ref)
    with uow:
        if uow.organisations.by_ref(clean_ref) is not None:
            raise e.InvalidValue("OrganisationRef", f"Organisation {clean_ref} already exists.")
        org = model.Organisation(
            ref=clean_ref,
            name=values.check_text("name", name, 200, required=True),
            ukprn=values.check_ukprn(ukprn, "UKPRN"),
            batch_enabled=batch_enabled,
        )
        uow.organisations.add(org)
        uow.commit()
        return org


def add_user(
    uow: AbstractUnitOfWork,
    *,
    organisation_ref: str,
    username: str,
    password: str,
    email: str,
    roles: Iterable[str],
) -> model.User:
    """A new user of an existing organisation; only a salted scrypt hash of the password is stored."""
    clean_roles = model.check_roles(roles)
    password_hash = new_password_hash(password)
    name = values.check_text("username", username, 100, required=True)
    with uow:
        clean_ref = values.check_org_ref(organisation_ref)
        org = uow.organisations.by_ref(clean_ref)
        if org is None or org.id is None:
            raise e.UnknownOrganisation(clean_ref)
        if uow.users.by_username(name) is not None:
            raise e.InvalidValue("username", f"User {name} already exists.")
        user = model.User(
            organisation_id=org.id,
            username=name,
            password_hash=password_hash,
            email=values.check_email(email),
            roles=clean_roles,
        )
        uow.users.add(user)
        uow.commit()
        return user


def new_learner(
    *, uln: str, given_name: str, family_name: str, date_of_birth: date | None, gender: int,
    postcode: str | None,
) -> model.Learner:
    return model.Learner(
        uln=values.check_uln(uln),
        given_name=values.check_name("GivenName", given_name),
        family_name=values.check_name("FamilyName", family_name),
        date_of_birth=date_of_birth,
        gender=values.check_gender(gender),
        postcode=values.check_text("Postcode", postcode, 10) or None,
    )


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    errors: list[str]


LEARNER_CSV_HEADER = ("Uln", "GivenName", "FamilyName", "DateOfBirth", "Gender", "Postcode")


def _date_of_birth(line: int, value: str | None, today: date) -> date | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        born = date.fromisoformat(text)
    except ValueError:
        raise e.InvalidValue(
            "DateOfBirth",
            f"line {line}: DateOfBirth {text[:20]!r} is not a date (yyyy-mm-dd); nothing was imported.",
        ) from None
    try:
        return values.check_not_future("DateOfBirth", born, today)
    except e.FutureDate:
        raise e.InvalidValue(
            "DateOfBirth", f"line {line}: DateOfBirth {text} is in the future; nothing was imported."
        ) from None


def import_learners(uow: AbstractUnitOfWork, *, stream: TextIO) -> ImportResult:
    """Add or update register entries from CSV (header: Uln,GivenName,FamilyName,DateOfBirth,Gender,Postcode).

    Bad rows are reported by line and skipped; good rows are committed together. A date of birth that does
    not parse or lies in the future refuses the whole file (nothing is imported): such dates come from a
    column written in another format or century, which would make every row of the file wrong.
    """
    reader = csv.DictReader(stream)
    missing = [h for h in ("Uln", "GivenName", "FamilyName") if h not in (reader.fieldnames or [])]
    if missing:
        raise e.InvalidValue("header", f"The CSV header lacks {', '.join(missing)}.")
    added = updated = 0
    errors: list[str] = []
    with uow:
        today = utcnow().date()
        for row in reader:
            line = reader.line_num
            date_of_birth = _date_of_birth(line, row.get("DateOfBirth"), today)
            try:
                learner = new_learner(
                    uln=row.get("Uln") or "",
                    given_name=row.get("GivenName") or "",
                    family_name=row.get("FamilyName") or "",
                    date_of_birth=date_of_birth,
                    gender=int((row.get("Gender") or "0").strip() or 0),
                    postcode=row.get("Postcode"),
                )
            except (e.DomainError, ValueError) as exc:
                message = exc.message if isinstance(exc, e.DomainError) else "Gender must be a whole number."
                errors.append(f"line {line}: {message}")
                continue
            existing = uow.learners.by_uln(learner.uln)
            if existing is None:
                uow.learners.add(learner)
                uow.flush()
                added += 1
            else:
                existing.given_name, existing.family_name = learner.given_name, learner.family_name
                existing.date_of_birth, existing.gender = learner.date_of_birth, learner.gender
                existing.postcode = learner.postcode
                updated += 1
        uow.commit()
    return ImportResult(added, updated, errors)
