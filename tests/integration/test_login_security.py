"""Replay protection and login throttling in the authentication use case, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from support.demo import DEMO1_USER, DEMO_PASSWORD

from lrs_ws.db.tables_security import login_failures, security_nonces
from lrs_ws.domain.clock import utcnow
from lrs_ws.domain.errors import AuthenticationFailed, TooManyAttempts
from lrs_ws.service.auth import LoginPolicy, authenticate

POLICY = LoginPolicy(
    token_max_age_seconds=300, token_max_future_seconds=60, failure_limit=3, failure_window_seconds=300
)
ONE_MESSAGE = AuthenticationFailed().message


def iso(when: datetime) -> str:
    return when.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


HOME = "192.0.2.10"
ELSEWHERE = "198.51.100.7"


def login(wiring, username=DEMO1_USER, password=DEMO_PASSWORD, source=HOME, policy=POLICY, **token):
    return authenticate(
        wiring.uow_factory(),
        username=username,
        password=password,
        organisation_ref=None,
        policy=policy,
        source=source,
        **token,
    )


def refused(wiring, **kwargs) -> str:
    with pytest.raises((AuthenticationFailed, TooManyAttempts)) as caught:
        login(wiring, **kwargs)
    return caught.value.message


def rows(wiring, table) -> int:
    with wiring.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def test_a_fresh_nonce_is_accepted_once_and_its_replay_is_refused_with_the_one_message(demo_wiring):
    token = {"nonce": "bm9uY2UtMQ==", "created": iso(utcnow())}
    assert login(demo_wiring, **token).username == "demo1.edc"
    assert refused(demo_wiring, **token) == ONE_MESSAGE
    assert rows(demo_wiring, security_nonces) == 1


def test_the_same_nonce_is_accepted_for_two_different_users(demo_wiring):
    token = {"nonce": "c2hhcmVk", "created": iso(utcnow())}
    login(demo_wiring, **token)
    assert login(demo_wiring, username="demo2.edc", **token).organisation_ref == "DEMO02"


def test_the_nonce_is_stored_as_a_digest_never_as_sent(demo_wiring):
    login(demo_wiring, nonce="visible-nonce-value", created=iso(utcnow()))
    with demo_wiring.engine.connect() as conn:
        stored = conn.execute(select(security_nonces)).one()
    assert "visible" not in stored.nonce_digest and len(stored.nonce_digest) == 64


@pytest.mark.parametrize(
    "created",
    [
        pytest.param(lambda now: iso(now - timedelta(seconds=301)), id="older-than-five-minutes"),
        pytest.param(lambda now: iso(now + timedelta(seconds=61)), id="over-a-minute-in-the-future"),
        pytest.param(lambda now: "yesterday", id="unreadable"),
        pytest.param(lambda now: "", id="empty"),
    ],
)
def test_a_token_whose_created_is_stale_future_or_unreadable_is_refused_and_nothing_is_stored(
    demo_wiring, created
):
    assert refused(demo_wiring, nonce="abc", created=created(utcnow())) == ONE_MESSAGE
    assert rows(demo_wiring, security_nonces) == 0


def test_a_created_within_the_window_is_accepted_even_slightly_in_the_future_or_with_an_offset(demo_wiring):
    now = utcnow()
    login(demo_wiring, nonce="n1", created=iso(now - timedelta(seconds=290)))
    login(demo_wiring, nonce="n2", created=iso(now + timedelta(seconds=30)))
    plus_two = now.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    login(demo_wiring, nonce="n3", created=plus_two.isoformat())
    assert rows(demo_wiring, security_nonces) == 3


def test_a_nonce_without_created_is_refused_but_created_alone_is_only_checked_for_freshness(demo_wiring):
    assert refused(demo_wiring, nonce="lonely") == ONE_MESSAGE
    created = iso(utcnow())
    login(demo_wiring, created=created)
    login(demo_wiring, created=created)
    assert rows(demo_wiring, security_nonces) == 0


def test_a_replay_with_a_wrong_password_is_counted_as_a_failure_and_stores_no_nonce(demo_wiring):
    assert refused(demo_wiring, password="wrong", nonce="n", created=iso(utcnow())) == ONE_MESSAGE
    assert rows(demo_wiring, security_nonces) == 0
    assert rows(demo_wiring, login_failures) == 1


def test_expired_nonces_are_purged_when_a_new_one_is_stored(demo_wiring):
    old = utcnow() - timedelta(hours=1)
    with demo_wiring.uow_factory() as uow:
        uow.nonces.remember("demo1.edc", "0" * 64, old, old + timedelta(seconds=301))
        uow.commit()
    login(demo_wiring, nonce="new", created=iso(utcnow()))
    with demo_wiring.engine.connect() as conn:
        digests = conn.scalars(select(security_nonces.c.nonce_digest)).all()
    assert digests != ["0" * 64] and len(digests) == 1


def test_after_too_many_failures_even_the_right_password_is_refused_with_the_same_message(demo_wiring):
    for _ in range(POLICY.failure_limit):
        assert refused(demo_wiring, password="wrong") == ONE_MESSAGE
    assert refused(demo_wiring) == ONE_MESSAGE
    # Throttled attempts are not counted: the lock ends when the window passes, not later.
    assert rows(demo_wiring, login_failures) == POLICY.failure_limit
    assert login(demo_wiring, username="demo2.edc").username == "demo2.edc"


def test_failures_older_than_the_window_no_longer_count_and_a_success_clears_the_rest(demo_wiring):
    long_ago = utcnow() - timedelta(seconds=POLICY.failure_window_seconds + 5)
    with demo_wiring.engine.begin() as conn:
        conn.execute(
            login_failures.insert(),
            [{"username": "demo1.edc", "source": HOME, "failed_at": long_ago}] * POLICY.failure_limit,
        )
    refused(demo_wiring, password="wrong")
    assert login(demo_wiring).username == "demo1.edc"
    assert rows(demo_wiring, login_failures) == 0


def test_unknown_user_names_are_throttled_like_known_ones(demo_wiring):
    for _ in range(POLICY.failure_limit + 2):
        assert refused(demo_wiring, username="nobody.here") == ONE_MESSAGE
    assert rows(demo_wiring, login_failures) == POLICY.failure_limit


def test_two_logins_racing_with_one_nonce_let_exactly_one_through(demo_wiring):
    token = {"nonce": "raced", "created": iso(utcnow())}
    results: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        try:
            login(demo_wiring, **token)
            results.append("ok")
        except AuthenticationFailed:
            results.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused", "refused", "refused"]
    assert rows(demo_wiring, security_nonces) == 1


@pytest.fixture
def counted_hashing(monkeypatch):
    """Counts the slow password hash checks authenticate makes."""
    from lrs_ws.service import auth

    calls = []
    real = auth.verify_password

    def counting(password, stored):
        calls.append(password)
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_password", counting)
    auth.recently_verified.clear()
    yield calls
    auth.recently_verified.clear()


def test_a_password_checked_lately_is_not_hashed_again_but_wrong_ones_always_are(
    demo_wiring, counted_hashing
):
    login(demo_wiring)
    login(demo_wiring)
    login(demo_wiring)
    assert len(counted_hashing) == 1
    refused(demo_wiring, password="wrong")
    refused(demo_wiring, password="wrong")
    assert len(counted_hashing) == 3


def test_a_changed_password_or_a_deactivated_user_is_not_let_in_by_the_cache(demo_wiring, counted_hashing):
    from lrs_ws.domain.passwords import hash_password

    login(demo_wiring)
    with demo_wiring.uow_factory() as uow:
        user = uow.users.by_username("demo1.edc")
        user.password_hash = hash_password("NewPassword0002")
        uow.commit()
    assert refused(demo_wiring) == ONE_MESSAGE
    assert login(demo_wiring, password="NewPassword0002").username == "demo1.edc"
    with demo_wiring.uow_factory() as uow:
        uow.users.by_username("demo1.edc").active = False
        uow.commit()
    assert refused(demo_wiring, password="NewPassword0002") == ONE_MESSAGE


def test_a_zero_cache_time_hashes_every_time(demo_wiring, counted_hashing):
    from dataclasses import replace

    policy = replace(POLICY, verified_cache_seconds=0)
    for _ in range(3):
        authenticate(
            demo_wiring.uow_factory(),
            username="demo1.edc",
            password=DEMO_PASSWORD,
            organisation_ref=None,
            policy=policy,
        )
    assert len(counted_hashing) == 3


# -- counted per (user name, source), atomically ----------------------------------------------------------


def test_a_stranger_locking_a_user_name_out_from_one_address_does_not_lock_its_owner_out(demo_wiring):
    for _ in range(POLICY.failure_limit + 2):
        assert refused(demo_wiring, password="guess", source=ELSEWHERE) == ONE_MESSAGE
    assert refused(demo_wiring, source=ELSEWHERE) == ONE_MESSAGE  # that address is locked out
    assert login(demo_wiring, source=HOME).username == "demo1.edc"  # the legitimate caller is not
    with demo_wiring.engine.connect() as conn:
        stored = conn.execute(select(login_failures.c.username, login_failures.c.source)).all()
    assert stored == [("demo1.edc", ELSEWHERE)] * POLICY.failure_limit


def test_deleting_a_user_names_failure_rows_lifts_every_lock_of_that_user(demo_wiring):
    for source in (HOME, ELSEWHERE):
        for _ in range(POLICY.failure_limit):
            refused(demo_wiring, password="guess", source=source)
        assert refused(demo_wiring, source=source) == ONE_MESSAGE
    with demo_wiring.engine.begin() as conn:
        conn.execute(login_failures.delete().where(login_failures.c.username == "demo1.edc"))
    assert login(demo_wiring, source=HOME).username == login(demo_wiring, source=ELSEWHERE).username


@pytest.mark.parametrize("attempts", [24, 32])
def test_concurrent_wrong_passwords_record_exactly_the_limit_and_check_no_more_passwords(
    demo_wiring, counted_hashing, attempts
):
    policy = LoginPolicy(failure_limit=5, failure_window_seconds=300)
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            login(demo_wiring, password="wrong-guess", policy=policy)
        except TooManyAttempts:
            outcome = "locked"
        except AuthenticationFailed:
            outcome = "failed"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(outcomes) == ["failed"] * 5 + ["locked"] * (attempts - 5)
    assert rows(demo_wiring, login_failures) == 5
    assert counted_hashing.count("wrong-guess") == 5


def test_a_user_name_failing_from_many_addresses_alerts_once_over_the_ceiling_but_is_not_locked(
    demo_wiring, caplog
):
    from lrs_ws.observability.metrics import build_registry

    policy = LoginPolicy(failure_limit=3, failure_window_seconds=300, alert_threshold=6)

    def alerts() -> float:
        sample = build_registry().get_sample_value("lrs_ws_login_failure_alerts_total", {"kind": "user_name"})
        return sample or 0.0

    before = alerts()
    with caplog.at_level("WARNING", logger="lrs_ws.auth"):
        for i in range(8):
            with pytest.raises(AuthenticationFailed):
                login(demo_wiring, password="guess", source=f"203.0.113.{i}", policy=policy)
    assert alerts() == before + 3  # the 6th, 7th and 8th failure
    warnings = [r for r in caplog.records if r.getMessage() == "many failed logins for one user name"]
    assert len(warnings) == 1 and "guess" not in str(warnings[0].__dict__)
    assert login(demo_wiring, source=HOME, policy=policy).username == "demo1.edc"


def test_a_replay_with_the_right_password_is_refused_but_not_counted_as_a_failure(
    demo_wiring, counted_hashing
):
    token = {"nonce": "replayed-right", "created": iso(utcnow())}
    login(demo_wiring, **token)
    counted_hashing.clear()
    from lrs_ws.service import auth

    auth.recently_verified.clear()  # the password is checked again, so a failure is reserved first
    assert refused(demo_wiring, **token) == ONE_MESSAGE
    assert len(counted_hashing) == 1
    assert rows(demo_wiring, login_failures) == 0
