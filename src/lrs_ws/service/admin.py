"""Administration use cases behind the `lrs-ws org|user|learner` commands."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TextIO

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.passwords import new_password_hash
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service import audit


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
    name = values.check_text("username", username, 100, required=True)
    password_hash = new_password_hash(password, name)
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
    *,
    uln: str,
    given_name: str,
    family_name: str,
    date_of_birth: date | None,
    gender: int,
    postcode: str | None,
    previous_family_name: str | None = None,
) -> model.Learner:
    return model.Learner(
        uln=values.check_uln(uln),
        given_name=values.check_name("GivenName", given_name),
        family_name=values.check_name("FamilyName", family_name),
        date_of_birth=date_of_birth,
        gender=values.check_gender(gender),
        postcode=values.check_text("Postcode", postcode, 10) or None,
        previous_family_name=(
            values.check_text("PreviousFamilyName", previous_family_name, values.MAX_NAME_LENGTH) or None
        ),
    )


def _link(uow: AbstractUnitOfWork, operator: str, uln: str, master_uln: str) -> bool:
    """Record that `uln` was merged into `master_uln` (audited); False when it already was."""
    learner = uow.learners.by_uln(uln)
    if learner is None:
        raise e.LearnerNotFound(uln)
    master = uow.learners.by_uln(master_uln)
    if master is None:
        raise e.LearnerNotFound(master_uln)
    if learner.merged_into == master.uln:
        return False
    learner.link_into(master, linked_into_self=uow.learners.linked_into(learner.uln))
    audit.record_operator(
        uow,
        operator,
        "learner link",
        utcnow(),
        organisation_id=None,
        before={"Uln": learner.uln, "MergedInto": None},
        after={"Uln": learner.uln, "MergedInto": master.uln},
    )
    uow.flush()
    return True


def link_learner(uow: AbstractUnitOfWork, *, operator: str, uln: str, master_uln: str) -> bool:
    """Link (merge) a ULN into a master ULN: both on the register, the master not itself linked, the ULN not
    linked already nor the master of others. False when this link already exists (nothing changed)."""
    old = values.check_uln(uln)
    master = values.check_uln(master_uln)
    with uow:
        changed = _link(uow, operator, old, master)
        uow.commit()
        return changed


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    errors: list[str]
    linked: int = 0


LEARNER_CSV_HEADER = ("Uln", "GivenName", "FamilyName", "DateOfBirth", "Gender", "Postcode")
OPTIONAL_LEARNER_COLUMNS = ("PreviousFamilyName", "MergedIntoUln")


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


def import_learners(uow: AbstractUnitOfWork, *, stream: TextIO, operator: str) -> ImportResult:
    """Add or update register entries from CSV (header: Uln,GivenName,FamilyName,DateOfBirth,Gender,Postcode;
    optional PreviousFamilyName and MergedIntoUln).

    Bad rows are reported by line and skipped; good rows are committed together. A date of birth that does
    not parse or lies in the future refuses the whole file (nothing is imported): such dates come from a
    column written in another format or century, which would make every row of the file wrong.
    A file without the PreviousFamilyName column leaves the previous family names on the register as they are.
    MergedIntoUln links the row's ULN into that master once every row is in (so the master may come later in
    the file), by the rules of `lrs-ws learner link`; a link refused is reported by line, the row's learner
    details stay imported.
    """
    reader = csv.DictReader(stream)
    columns = reader.fieldnames or []
    missing = [h for h in ("Uln", "GivenName", "FamilyName") if h not in columns]
    if missing:
        raise e.InvalidValue("header", f"The CSV header lacks {', '.join(missing)}.")
    has_previous = "PreviousFamilyName" in columns
    added = updated = linked = 0
    errors: list[str] = []
    links: list[tuple[int, str, str]] = []
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
                    previous_family_name=row.get("PreviousFamilyName"),
                )
                master = (row.get("MergedIntoUln") or "").strip()
                if master and not values.uln_is_valid(master):
                    raise e.InvalidValue("MergedIntoUln", "MergedIntoUln is not a valid ULN.")
                if master:
                    links.append((line, learner.uln, master))
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
                if has_previous:
                    existing.previous_family_name = learner.previous_family_name
                updated += 1
        uow.flush()
        for line, uln, master in links:
            try:
                linked += _link(uow, operator, uln, master)
            except e.DomainError as exc:
                errors.append(
                    f"line {line}: MergedIntoUln: {exc.message} The learner was imported, not linked."
                )
        errors.sort(key=lambda text: int(text.split(":", 1)[0].removeprefix("line ")))
        uow.commit()
    return ImportResult(added, updated, errors, linked)
