"""Demo data (`lrs-ws demo-data`): a small, idempotent world to try every operation against.

These identities and the shared password are for demonstration only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from lrs_ws.domain import model
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.passwords import hash_password
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.domain.records import Aim
from lrs_ws.service import audit
from lrs_ws.service.auth import Caller

DEMO_PASSWORD = "DemoPassword0001"
HEALTHCARE_UNIT = "J/602/3521"
HEALTHCARE_TITLE = (
    "Adapt and fit healthcare equipment, medical devices, assistive technology, or products, "
    "to meet individuals' needs"
)

ORGANISATIONS = [
    ("DEMO01", "Demo Awarding Organisation One", "10000001", True),
    ("DEMO02", "Demo Awarding Organisation Two", "10000002", True),
    ("LRS001", "LRS Business Support", "10000003", False),
]
USERS = [
    ("demo1.edc", "DEMO01", "demo1.edc@demo1.example", "AO_USER,EDC_USER"),
    ("demo2.edc", "DEMO02", "demo2.edc@demo2.example", "AO_USER,EDC_USER"),
    ("lrs.support", "LRS001", "lrs.support@lrs.example", "LRS_SUPPORT"),
    ("demo1.admin", "DEMO01", "demo1.admin@demo1.example", "AO_ADMIN"),
]
LEARNERS = [
    ("3415521949", "Test", "Learner", date(2000, 5, 1), 9, "CV1 2WT"),
    ("8659377485", "James", "Pickles", date(1999, 3, 14), 1, "B1 1AA"),
    ("1234567899", "Amira", "Khan", date(2001, 9, 30), 2, "M1 1AE"),
    ("1604938268", "Owen", "Jones", date(1998, 1, 2), 1, "CF10 1EP"),
    ("1975308637", "Grace", "Okafor", date(2002, 11, 11), 2, "LS1 4AP"),
]
# For learner verification: Sophie Turner was Sophie Baker (previous family name), and the ULN she was given
# under that name was merged into her master ULN (a linked learner).
MASTER_ULN, MERGED_ULN = "2406813575", "5719032648"
LINKED_LEARNERS = [
    {"uln": MASTER_ULN, "family_name": "Turner", "previous_family_name": "Baker"},
    {"uln": MERGED_ULN, "family_name": "Baker", "merged_into": MASTER_ULN},
]
AIMS = [
    Aim(HEALTHCARE_UNIT, HEALTHCARE_TITLE, "Unit", "Level 3"),
    Aim(
        "K/501/5773",
        "Principles of personal responsibilities and working in a business environment",
        "Unit",
        "Level 2",
    ),
    Aim("600/1166/X", "Level 2 Certificate in Health and Social Care", "Qualification", "Level 2"),
]


def load(uow: AbstractUnitOfWork, *, now: datetime | None = None) -> bool:
    """Create the demo world; False (and nothing changed) when it is already there."""
    now = now or utcnow()
    with uow:
        if uow.organisations.by_ref("DEMO01") is not None:
            return False
        orgs: dict[str, model.Organisation] = {}
        for ref, name, ukprn, batch in ORGANISATIONS:
            orgs[ref] = model.Organisation(ref=ref, name=name, ukprn=ukprn, batch_enabled=batch)
            uow.organisations.add(orgs[ref])
        uow.flush()
        password_hash = hash_password(DEMO_PASSWORD)
        users: dict[str, model.User] = {}
        for username, org_ref, email, roles in USERS:
            org_id = orgs[org_ref].id
            assert org_id is not None
            users[username] = model.User(
                organisation_id=org_id,
                username=username,
                password_hash=password_hash,
                email=email,
                roles=roles,
            )
            uow.users.add(users[username])
        for uln, given, family, dob, gender, postcode in LEARNERS:
            uow.learners.add(
                model.Learner(
                    uln=uln,
                    given_name=given,
                    family_name=family,
                    date_of_birth=dob,
                    gender=gender,
                    postcode=postcode,
                )
            )
        for fields in LINKED_LEARNERS:
            uow.learners.add(
                model.Learner(
                    given_name="Sophie",
                    date_of_birth=date(2000, 6, 15),
                    gender=2,
                    postcode="NE1 4ST",
                    **fields,
                )
            )
        for aim in AIMS:
            if uow.aims.get(aim.reference) is None:
                uow.aims.add(aim)
        uow.flush()

        def caller(username: str) -> Caller:
            user = users[username]
            org = next(o for o in orgs.values() if o.id == user.organisation_id)
            return Caller.of(user, org, "demo-data")

        def achievement(org_ref: str, day: int, grade: str = "") -> model.Achievement:
            org_id = orgs[org_ref].id
            assert org_id is not None
            a = model.Achievement(
                organisation_id=org_id,
                uln="3415521949",
                reference=HEALTHCARE_UNIT,
                title=HEALTHCARE_TITLE,
                aim_type="Unit",
                level="Level 3",
                grade=grade,
                award_date=date(2010, 1, day),
                provider_ukprn="",
                language="",
                mis_identifier=f"{org_ref}-{day:02d}",
                created_at=now,
            )
            uow.achievements.add(a)
            uow.flush()
            audit.record(
                uow,
                caller("demo1.edc" if org_ref == "DEMO01" else "demo2.edc"),
                "Create",
                now,
                achievement_id=a.id,
                after=a.snapshot(),
            )
            return a

        demo1 = [achievement("DEMO01", d) for d in (1, 2, 3)]
        achievement("DEMO02", 4, "Pass")

        support = caller("lrs.support")
        learner_names = ("Test", "Learner")

        def edc(
            a: model.Achievement, days_ago: int, problem: str, action: str, value: str
        ) -> model.EventDataChallenge:
            assert a.id is not None
            raised = now - timedelta(days=days_ago)
            challenge = model.EventDataChallenge(
                organisation_id=a.organisation_id,
                achievement_id=a.id,
                uln=a.uln,
                given_name=learner_names[0],
                family_name=learner_names[1],
                problem_type=problem,
                description=f"Demo challenge: {problem}",
                recommended_action=action,
                supplied_value=value,
                raised_at=raised,
                raised_by=support.username,
            )
            uow.edcs.add(challenge)
            a.under_challenge = True
            uow.flush()
            audit.record(
                uow,
                support,
                "RaiseEventDataChallenge",
                raised,
                edc_id=challenge.id,
                achievement_id=a.id,
                after={"Reference": challenge.reference, "Status": challenge.status},
            )
            return challenge

        edc(demo1[0], 3, "GradeIncorrect", "EditGrade", "Merit")
        in_progress = edc(demo1[1], 40, "NotLearnersAchievement", "TransferToLearner", "8659377485")
        in_progress.process()
        complete = edc(demo1[2], 60, "Duplicate", "Delete", "")
        complete.process()
        complete.decide(
            model.REJECTED, "The achievement is not a duplicate: it is a resit.", now - timedelta(days=55)
        )
        complete.close(now - timedelta(days=50))
        demo1[2].under_challenge = False
        uow.commit()
        return True
