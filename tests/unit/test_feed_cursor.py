"""The change feed's cursor: opaque, signed, bound to one organisation; and the kinds a change shows as."""

from __future__ import annotations

import base64

import pytest

from lrs_ws.domain import feed
from lrs_ws.domain.errors import InvalidValue

KEY = bytes(range(32))


def test_a_cursor_gives_back_the_sequence_number_it_was_made_for() -> None:
    cursor = feed.encode_cursor(KEY, 7, 123_456)
    assert feed.decode_cursor(KEY, 7, cursor) == 123_456


def test_no_cursor_or_an_empty_one_starts_from_the_beginning() -> None:
    assert feed.decode_cursor(KEY, 7, None) == 0
    assert feed.decode_cursor(KEY, 7, "  ") == 0


def test_a_cursor_does_not_show_its_organisation_or_number_in_plain_text() -> None:
    cursor = feed.encode_cursor(KEY, 7, 123_456)
    assert "123456" not in cursor and "." not in cursor


def test_a_cursor_of_another_organisation_is_refused() -> None:
    cursor = feed.encode_cursor(KEY, 7, 10)
    with pytest.raises(InvalidValue) as refused:
        feed.decode_cursor(KEY, 8, cursor)
    assert refused.value.field == "cursor"


def test_a_cursor_signed_with_another_key_is_refused() -> None:
    cursor = feed.encode_cursor(bytes(32), 7, 10)
    with pytest.raises(InvalidValue):
        feed.decode_cursor(KEY, 7, cursor)


def test_a_cursor_whose_number_was_changed_is_refused() -> None:
    raw = base64.urlsafe_b64decode(feed.encode_cursor(KEY, 7, 10) + "==")
    forged = base64.urlsafe_b64encode(raw.replace(b"7.10.", b"7.99.", 1)).decode().rstrip("=")
    with pytest.raises(InvalidValue):
        feed.decode_cursor(KEY, 7, forged)


@pytest.mark.parametrize("garbage", ["not a cursor!", "AAAA", "=", "MS4xMA", "é"])
def test_a_cursor_that_is_not_one_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidValue):
        feed.decode_cursor(KEY, 7, garbage)


def test_every_audited_achievement_and_edc_operation_has_its_kind() -> None:
    assert feed.kinds_of("Create") == (feed.CREATED,)
    assert feed.kinds_of("BatchCreate") == (feed.CREATED,)
    assert feed.kinds_of("BatchUpdate") == (feed.UPDATED,)
    assert feed.kinds_of("BatchPromoteToFinal") == (feed.PROMOTED_TO_FINAL,)
    assert feed.kinds_of("Transfer") == (feed.TRANSFERRED_OUT, feed.TRANSFERRED_IN)
    assert feed.kinds_of("CloseEventDataChallenge") == (feed.EDC_CLOSED,)


def test_an_operation_the_feed_does_not_name_still_shows_as_an_update() -> None:
    assert feed.kinds_of("SomethingNew") == (feed.UPDATED,)
