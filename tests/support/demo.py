"""The demo world the tests run against, as `lrs-ws demo-data` loads it: names for its organisations, users,
learners and password, read from `lrs_ws.service.demo` so that they are written down once."""

from __future__ import annotations

from lrs_ws.service import demo

DEMO_PASSWORD = demo.DEMO_PASSWORD

# Organisation references: two awarding organisations and LRS business support.
ORG1, ORG2, LRS_ORG = (ref for ref, *_ in demo.ORGANISATIONS)


def _user(org_ref: str, role: str) -> str:
    return next(name for name, org, _, roles in demo.USERS if org == org_ref and role in roles.split(","))


DEMO1_USER = _user(ORG1, "EDC_USER")  # demo1.edc: achievements and EDCs of ORG1
DEMO2_USER = _user(ORG2, "EDC_USER")  # demo2.edc: achievements and EDCs of ORG2
SUPPORT_USER = _user(LRS_ORG, "LRS_SUPPORT")  # lrs.support: raises EDCs
ADMIN_USER = _user(ORG1, "AO_ADMIN")  # demo1.admin: manages ORG1's users

# Learners on the register: ULN -> (given name, family name).
LEARNER_NAMES = {uln: (given, family) for uln, given, family, *_ in demo.LEARNERS}
_by_given = {given: uln for uln, (given, _family) in LEARNER_NAMES.items()}
TEST_LEARNER = _by_given["Test"]  # holds the demo achievements and EDCs (Test Learner)
JAMES = _by_given["James"]
AMIRA = _by_given["Amira"]
OWEN = _by_given["Owen"]
GRACE = _by_given["Grace"]
# Sophie Turner (previous family name Baker), and the ULN she had as Baker, merged into her master ULN.
MASTER_ULN, MERGED_ULN = demo.MASTER_ULN, demo.MERGED_ULN
