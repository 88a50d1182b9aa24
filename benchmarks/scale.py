"""Read latency at scale: `make bench-scale` (or `python -m benchmarks.scale [--scale 0.01]`).

Builds on PostgreSQL a big database — at `--scale 1` 10,000,000 achievements of 2,000,000 learners, 200
organisations, 100,000 EDCs and one Create audit event per achievement — and a small one of 10,000
achievements built the same way (every count divided by 1,000, at least two organisations), both with INSERT
... SELECT over generate_series: valid ULN check digits (the project's ULN rule, in SQL), every foreign key
valid. The demo data is loaded first so that DEMO01 (`demo1.edc`) is one of the organisations and
`lrs.support` can list them all.

Then it serves each database with a live gunicorn (one worker each, the service as installed) and times the
same SOAP calls against both, alternating between them, and prints the big/small ratio of the medians:
GetLearnerAchievements, GetAchievement, ListEventDataChallenges for one AO and for LRS Business Support (page
1 and a deep page: the last full page of 50) and GetAchievementHistory page 1.

Last, on the big database: an achievement with 100,000 audit events next to one with 10: GetAchievementHistory
page 1 of each (time, and the worker's RSS after it), and LRS Business Support's first EDC page while it holds
an accepted EDC of each.

PostgreSQL: --pg-url (an administrative URL; the databases are created and dropped), else LRS_WS_TEST_PG_URL,
else a throwaway local cluster like the tests use.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.hardening import rss_kib, worker_pids  # noqa: E402
from support.pg import create_database, drop_database, libpq_url, postgres_url  # noqa: E402
from support.server import LiveServer  # noqa: E402

FULL = {"achievements": 10_000_000, "learners": 2_000_000, "organisations": 200, "edcs": 100_000}
SMALL_SCALE = 0.001
PAGE = 50
REPEAT = 15
LONG_HISTORY = 100_000
PASSWORD = "DemoPassword0001"
SERVICES = "http://api.lrs.qcf.gov.uk/services"
MODEL = "http://api.lrs.qcf.gov.uk/model"
TOTAL = re.compile(rb"<(?:\w+:)?TotalCount>(\d+)</")
FAULT = re.compile(rb"<(?:\w+:)?ErrorCode>([^<]*)</")
AO = ("demo1.edc", "DEMO01")
SUPPORT = ("lrs.support", "LRS001")


@dataclass(frozen=True)
class Sizes:
    achievements: int
    learners: int
    organisations: int
    edcs: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        achievements = max(1000, round(FULL["achievements"] * scale))
        return cls(
            achievements=achievements + (achievements % 97 == 0),
            learners=max(200, round(FULL["learners"] * scale)),
            organisations=max(2, round(FULL["organisations"] * scale)),
            edcs=max(20, round(FULL["edcs"] * scale)),
        )


# -- generation ---------------------------------------------------------------------------------------------

# The DfE ULN rule of domain/values.py in SQL: digits 1-9 weighted 10..2, remainder 0 invalid, check digit
# 10 - remainder. `p` is the 9-digit prefix.
ULN_REMAINDER = " + ".join(f"{10 - k} * ((p / {10 ** (8 - k)}) %% 10)" for k in range(9))

GENERATE = [
    # Organisations beyond the demo's DEMO01 and DEMO02 (LRS001 holds no achievements).
    """INSERT INTO organisations (ref, name, ukprn, batch_enabled, active)
       SELECT 'G' || lpad(g::text, 5, '0'), 'Generated organisation ' || g, (20000000 + g)::text, true, true
       FROM generate_series(1, %(organisations)s - 2) g""",
    """CREATE TEMP TABLE gen_orgs AS
       SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM organisations WHERE ref <> 'LRS001'""",
    # Learners: 9-digit prefixes from 100000000 up, the ~1 in 11 without a valid check digit skipped.
    """CREATE TEMP TABLE gen_learners AS
       SELECT row_number() OVER (ORDER BY p) - 1 AS n, p::text || (10 - r)::text AS uln
       FROM (SELECT p, ("""
    + ULN_REMAINDER
    + """) %% 11 AS r
             FROM generate_series(100000000::bigint, 100000000 + %(learners)s * 12 / 10) p) s
       WHERE r <> 0 ORDER BY p LIMIT %(learners)s""",
    "CREATE UNIQUE INDEX ON gen_learners (n)",
    """INSERT INTO learners (uln, given_name, family_name, date_of_birth, gender, postcode)
       SELECT uln, 'Given' || n, 'Family' || n, date '1990-01-01' + (n %% 5000)::int, (n %% 3)::int, 'AB1 2CD'
       FROM gen_learners ORDER BY n""",
    # Achievements: organisation g mod O, learner (g * 7919) mod L (about five each, of several
    # organisations).
    """INSERT INTO achievements (organisation_id, uln, reference, title, aim_type, level, grade, award_date,
           language, provider_ukprn, mis_identifier, status, withdrawn, withdrawn_reason, deleted,
           under_challenge, created_at, updated_at, version)
       SELECT o.id, l.uln, 'K/501/5773', 'Principles of personal responsibilities', 'Unit', 'Level 2',
           (ARRAY['Pass', 'Merit', 'Distinction'])[1 + g %% 3], date '2010-01-01' + (g %% 4000)::int,
           'English', '10000001', 'G' || g, 'Final', false, '', false, false,
           timestamp '2020-01-01' + g * interval '1 second',
           timestamp '2020-01-01' + g * interval '1 second', 1
       FROM generate_series(0, %(achievements)s - 1) g
       JOIN gen_orgs o ON o.n = g %% %(organisations)s
       JOIN gen_learners l ON l.n = (g::bigint * 7919) %% %(learners)s""",
    """INSERT INTO audit_events (at, user_id, username, organisation_id, operation, achievement_id, edc_id,
           before, after, request_id, client_certificate)
       SELECT created_at, NULL, 'batch', organisation_id, 'Create', id, NULL, NULL,
           '{"Grade": "' || grade || '", "Uln": "' || uln || '"}', '', ''
       FROM achievements WHERE mis_identifier LIKE 'G%%'""",
    # EDCs on distinct achievements (stride 97, coprime to the achievement count): 40 % New, 30 % InProgress
    # (half of them Accepted, for verification), 30 % Complete (Rejected).
    """CREATE TEMP TABLE gen_achievements AS
       SELECT row_number() OVER (ORDER BY id) - 1 AS n, id
       FROM achievements WHERE mis_identifier LIKE 'G%%'""",
    "CREATE UNIQUE INDEX ON gen_achievements (n)",
    """INSERT INTO event_data_challenges (organisation_id, achievement_id, uln, given_name, family_name,
           problem_type, description, recommended_action, supplied_value, status, decision, decision_reason,
           decided_at, raised_at, raised_by, resolved_at, due_date, action_verified, version)
       SELECT a.organisation_id, a.id, a.uln, l.given_name, l.family_name, 'GradeIncorrect',
           'The grade should be Merit.', 'EditGrade', 'Merit',
           CASE WHEN g %% 10 < 4 THEN 'New' WHEN g %% 10 < 7 THEN 'InProgress' ELSE 'Complete' END,
           CASE WHEN g %% 10 >= 7 THEN 'Rejected' WHEN g %% 10 >= 4 AND g %% 2 = 0 THEN 'Accepted' END,
           CASE WHEN g %% 10 >= 7 THEN 'Not a problem'
                WHEN g %% 10 >= 4 AND g %% 2 = 0 THEN 'Agreed' ELSE '' END,
           CASE WHEN g %% 10 >= 7 OR (g %% 10 >= 4 AND g %% 2 = 0)
                THEN timestamp '2024-01-01' + g * interval '1 minute' + interval '1 hour' END,
           timestamp '2024-01-01' + g * interval '1 minute', 'lrs.support',
           CASE WHEN g %% 10 >= 7
                THEN timestamp '2024-01-01' + g * interval '1 minute' + interval '2 hours' END,
           date '2024-01-01' + (g / 1440 + 35)::int, false, 1
       FROM generate_series(0, %(edcs)s - 1) g
       JOIN gen_achievements ga ON ga.n = (g::bigint * 97) %% %(achievements)s
       JOIN achievements a ON a.id = ga.id
       JOIN learners l ON l.uln = a.uln""",
    # The accepted EDCs' decisions in the audit trail, and for every other one the grade corrected after it.
    """INSERT INTO audit_events (at, user_id, username, organisation_id, operation, achievement_id, edc_id,
           before, after, request_id, client_certificate)
       SELECT decided_at, NULL, 'generated.edc', organisation_id, 'RecordEventDataChallengeDecision',
           achievement_id, id, '{"Decision": null}', '{"Decision": "Accepted"}', '', ''
       FROM event_data_challenges WHERE decision = 'Accepted' AND raised_by = 'lrs.support'
           AND description = 'The grade should be Merit.' ORDER BY id""",
    """UPDATE achievements a SET grade = 'Merit' FROM event_data_challenges e
       WHERE e.achievement_id = a.id AND e.decision = 'Accepted' AND (e.id / 2) %% 2 = 0
           AND e.description = 'The grade should be Merit.'""",
    """INSERT INTO audit_events (at, user_id, username, organisation_id, operation, achievement_id, edc_id,
           before, after, request_id, client_certificate)
       SELECT e.decided_at + interval '1 minute', NULL, 'generated.edc', e.organisation_id, 'EditGrade',
           e.achievement_id, NULL, '{"Grade": "Pass"}', '{"Grade": "Merit"}', '', ''
       FROM event_data_challenges e WHERE e.decision = 'Accepted' AND (e.id / 2) %% 2 = 0
           AND e.description = 'The grade should be Merit.' ORDER BY e.id""",
]


def prepare(url: str) -> None:
    from lrs_ws.app import wire
    from lrs_ws.config import Settings
    from lrs_ws.db.migrate import upgrade
    from lrs_ws.service import demo

    upgrade(url)
    w = wire(Settings(database_url=url))
    demo.load(w.uow_factory())
    w.engine.dispose()


def generate(url: str, sizes: Sizes) -> float:
    """Fill a migrated database holding the demo data; returns the seconds it took (the indexes of the big
    tables dropped first and built again after, then VACUUM ANALYZE, all included)."""
    from sqlalchemy import create_engine

    from lrs_ws.db.tables import achievements, audit_events, event_data_challenges

    started = time.monotonic()
    indexes = [ix for table in (achievements, audit_events, event_data_challenges) for ix in table.indexes]
    engine = create_engine(url)
    with engine.begin() as conn:
        for ix in indexes:
            ix.drop(conn)
    with psycopg.connect(libpq_url(url)) as conn:
        for statement in GENERATE:
            conn.execute(statement, sizes.__dict__)
        conn.commit()
    with engine.begin() as conn:
        for ix in indexes:
            ix.create(conn)
    engine.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


# -- calls --------------------------------------------------------------------------------------------------


def envelope(operation: str, params: str, who: tuple[str, str] = AO) -> bytes:
    name, org = who
    user = (
        f"<s:invokingUser><m:OrgPassword>{PASSWORD}</m:OrgPassword><m:OrganisationRef>{org}"
        f"</m:OrganisationRef><m:UserName>{name}</m:UserName></s:invokingUser>"
    )
    return (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="{SERVICES}" '
        f'xmlns:m="{MODEL}"><soap:Body><s:{operation}>{user}{params}</s:{operation}></soap:Body>'
        "</soap:Envelope>"
    ).encode()


class Target:
    """One served database and the calls to time against it."""

    def __init__(self, label: str, url: str, workdir: Path) -> None:
        self.label = label
        self.url = url
        self.server = LiveServer(url, workdir / f"{label}.log", workers=1).start()
        self.session = requests.Session()

    def call(self, body: bytes) -> tuple[float, bytes]:
        started = time.perf_counter()
        answer = self.session.post(
            self.server.soap_url, data=body, timeout=600, headers={"Content-Type": "text/xml; charset=utf-8"}
        )
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            code = FAULT.search(answer.content)
            why = code.group(1) if code else answer.content[:200]
            raise RuntimeError(f"{self.label}: HTTP {answer.status_code} {why!r}")
        return elapsed, answer.content

    def total(self, body: bytes) -> int:
        found = TOTAL.search(self.call(body)[1])
        return int(found.group(1)) if found else 0

    def rss_mib(self) -> float:
        (pid,) = worker_pids(self.server)
        return rss_kib(pid) / 1024

    def sql(self, query: str, params: dict[str, object] | None = None) -> list[tuple[object, ...]]:
        with psycopg.connect(libpq_url(self.url)) as conn:
            cur = conn.execute(query, params)
            rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows

    def stop(self) -> None:
        self.server.stop()


def calls_for(t: Target) -> dict[str, bytes]:
    """The timed requests on this database: a DEMO01 learner and achievement with an accepted EDC."""
    ((uln, achievement_id),) = t.sql(
        "SELECT a.uln, a.id FROM event_data_challenges e JOIN achievements a ON a.id = e.achievement_id"
        " JOIN organisations o ON o.id = e.organisation_id"
        " WHERE o.ref = 'DEMO01' AND e.decision = 'Accepted' ORDER BY e.id LIMIT 1"
    )
    own = envelope("ListEventDataChallenges", "")
    everyone = envelope("ListEventDataChallenges", "", SUPPORT)
    deep_own = max(1, t.total(own) // PAGE)
    deep_all = max(1, t.total(everyone) // PAGE)
    return {
        "GetLearnerAchievements": envelope("GetLearnerAchievements", f"<s:uln>{uln}</s:uln>"),
        "GetAchievement": envelope("GetAchievement", f"<s:achievementId>{achievement_id}</s:achievementId>"),
        "ListEventDataChallenges AO p1": own,
        "ListEventDataChallenges AO deep": envelope(
            "ListEventDataChallenges", f"<s:pageNumber>{deep_own}</s:pageNumber>"
        ),
        "ListEventDataChallenges LRS p1": everyone,
        "ListEventDataChallenges LRS deep": envelope(
            "ListEventDataChallenges", f"<s:pageNumber>{deep_all}</s:pageNumber>", SUPPORT
        ),
        "GetAchievementHistory p1": envelope(
            "GetAchievementHistory", f"<s:achievementId>{achievement_id}</s:achievementId>"
        ),
    }


def median_ms(t: Target, body: bytes, repeat: int) -> float:
    return statistics.median(t.call(body)[0] for _ in range(repeat)) * 1000


def compare(small: Target, big: Target, repeat: int) -> list[tuple[str, float, float]]:
    """Median milliseconds of each call on both, taken alternately so that a busy moment hits both."""
    small_calls, big_calls = calls_for(small), calls_for(big)
    rows = []
    for name in small_calls:
        for t, body in ((small, small_calls[name]), (big, big_calls[name])):
            for _ in range(3):
                t.call(body)  # warm: connection pool, password cache, PostgreSQL's buffers
        times: dict[str, list[float]] = {small.label: [], big.label: []}
        for _ in range(repeat):
            times[small.label].append(small.call(small_calls[name])[0])
            times[big.label].append(big.call(big_calls[name])[0])
        s, b = (statistics.median(times[t.label]) * 1000 for t in (small, big))
        rows.append((name, s, b))
    return rows


# -- the long history ---------------------------------------------------------------------------------------


def add_history(t: Target, events: int, minute: int) -> int:
    """A DEMO01 achievement with `events` audit events, then an EDC on it accepted after them (raised after
    every generated EDC, so first on LRS Business Support's list); returns the achievement id."""
    ((achievement_id,),) = t.sql(
        """INSERT INTO achievements (organisation_id, uln, reference, title, aim_type, level, grade,
               award_date,
               language, provider_ukprn, mis_identifier, status, withdrawn, withdrawn_reason, deleted,
               under_challenge, created_at, updated_at, version)
           SELECT o.id, '3415521949', 'K/501/5773', 'Principles', 'Unit', 'Level 2', 'Pass',
               date '2015-06-01',
               'English', '10000001', 'H' || %(events)s, 'Final', false, '', false, true, now(), now(), 1
           FROM organisations o WHERE o.ref = 'DEMO01' RETURNING id""",
        {"events": events},
    )
    t.sql(
        """INSERT INTO audit_events (at, user_id, username, organisation_id, operation, achievement_id,
               edc_id,
               before, after, request_id, client_certificate)
           SELECT timestamp '2024-06-01' + g * interval '1 second', NULL, 'demo1.edc', a.organisation_id,
               'EditGrade', a.id, NULL, '{"Grade": "Pass' || (g - 1) || '"}',
               '{"Grade": "Pass' || g || '"}', '', ''
           FROM achievements a, generate_series(1, %(events)s) g WHERE a.id = %(a)s ORDER BY g""",
        {"events": events, "a": achievement_id},
    )
    t.sql(
        """WITH e AS (
               INSERT INTO event_data_challenges (organisation_id, achievement_id, uln, given_name,
                   family_name, problem_type, description, recommended_action, supplied_value, status,
                   decision, decision_reason, decided_at, raised_at, raised_by, due_date, action_verified,
                   version)
               SELECT organisation_id, id, uln, 'Test', 'Learner', 'GradeIncorrect', 'Long history',
                   'EditGrade', 'Merit', 'InProgress', 'Accepted', 'Agreed', timestamp '2030-01-01',
                   timestamp '2029-01-01' + %(m)s * interval '1 minute', 'lrs.support', date '2030-02-01',
                   false, 1
               FROM achievements WHERE id = %(a)s RETURNING id, organisation_id, achievement_id)
           INSERT INTO audit_events (at, user_id, username, organisation_id, operation, achievement_id,
               edc_id,
               before, after, request_id, client_certificate)
           SELECT timestamp '2030-01-01', NULL, 'demo1.edc', organisation_id,
               'RecordEventDataChallengeDecision',
               achievement_id, id, '{"Decision": null}', '{"Decision": "Accepted"}', '', '' FROM e""",
        {"a": achievement_id, "m": minute},
    )
    t.sql("ANALYZE audit_events")
    return int(str(achievement_id))


def long_history(t: Target, repeat: int) -> list[str]:
    support_page = envelope("ListEventDataChallenges", "<s:pageSize>10</s:pageSize>", SUPPORT)
    short = envelope("GetAchievementHistory", f"<s:achievementId>{add_history(t, 10, 1)}</s:achievementId>")
    t.call(support_page), t.call(short)
    list_short, short_ms = median_ms(t, support_page, repeat), median_ms(t, short, repeat)
    rss_short = t.rss_mib()
    long = envelope(
        "GetAchievementHistory", f"<s:achievementId>{add_history(t, LONG_HISTORY, 2)}</s:achievementId>"
    )
    t.call(support_page)
    list_long = median_ms(t, support_page, repeat)
    first, answer = t.call(long)
    rss_first = t.rss_mib()
    long_ms = median_ms(t, long, max(3, repeat // 3))
    rss_long = t.rss_mib()
    widest = envelope("ListEventDataChallenges", "<s:pageSize>500</s:pageSize>", SUPPORT)
    widest_s, widest_answer = t.call(widest)
    rss_widest = t.rss_mib()
    return [
        f"GetAchievementHistory p1, {LONG_HISTORY:,} events vs 10: {long_ms:.1f} ms vs {short_ms:.1f} ms "
        f"(x{long_ms / short_ms:.2f}; first call {first * 1000:.0f} ms, answer {len(answer) / 1024:.0f} KiB)",
        f"worker RSS: {rss_short:.0f} MiB after the 10-event history, {rss_first:.0f} MiB after the first "
        f"{LONG_HISTORY:,}-event one, {rss_long:.0f} MiB after its repeats",
        f"ListEventDataChallenges LRS p1 (size 10) holding the EDC of the {LONG_HISTORY:,}-event achievement "
        "vs "
        f"of the 10-event one: {list_long:.1f} ms vs {list_short:.1f} ms (x{list_long / list_short:.2f})",
        f"ListEventDataChallenges LRS p1 of the largest size, 500: {widest_s * 1000:.0f} ms, answer "
        f"{len(widest_answer) / 1024:.0f} KiB; worker RSS {rss_widest:.0f} MiB after it",
    ]


# -- main ---------------------------------------------------------------------------------------------------


def build(admin: str, label: str, sizes: Sizes) -> tuple[str, float]:
    url = create_database(admin, f"lrs_scale_{label}")
    prepare(url)
    seconds = generate(url, sizes)
    print(
        f"{label}: {sizes.achievements:,} achievements, {sizes.learners:,} learners, "
        f"{sizes.organisations} organisations, {sizes.edcs:,} EDCs generated in {seconds:.1f} s",
        flush=True,
    )
    return url, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="fraction of the 10M-achievement database (default 1; 0.01 for a quick run)",
    )
    parser.add_argument(
        "--repeat", type=int, default=REPEAT, help=f"timed calls per operation (default {REPEAT})"
    )
    parser.add_argument("--pg-url", default=None, help="administrative PostgreSQL URL (default: see above)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the databases (with --pg-url; a throwaway cluster goes at exit)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1 or not 1 <= args.repeat <= 1000:
        parser.error("--scale must be in (0, 1] and --repeat in 1..1000")
    admin = args.pg_url or postgres_url()
    if admin is None:
        print("no PostgreSQL available: give --pg-url or LRS_WS_TEST_PG_URL", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="lrs_ws_scale_"))
    urls: list[str] = []
    targets: list[Target] = []
    try:
        small_url, _ = build(admin, "small", Sizes.at(SMALL_SCALE))
        urls.append(small_url)
        big_url, _ = build(admin, "big", Sizes.at(args.scale))
        urls.append(big_url)
        small, big = Target("small", small_url, workdir), Target("big", big_url, workdir)
        targets += [small, big]
        print(
            f"live gunicorn, 1 worker each; median of {args.repeat} calls, alternating small and big",
            flush=True,
        )
        print(f"{'call':<36}{'small ms':>10}{'big ms':>10}{'big/small':>11}")
        for name, s, b in compare(small, big, args.repeat):
            print(f"{name:<36}{s:>10.1f}{b:>10.1f}{b / s:>10.2f}x", flush=True)
        for line in long_history(big, args.repeat):
            print(line, flush=True)
        return 0
    finally:
        for t in targets:
            t.stop()
        if args.keep:
            print("kept:", *urls)
        else:
            for url in urls:
                drop_database(admin, url)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    raise SystemExit(main())
