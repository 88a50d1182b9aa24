"""The rules of user management by an organisation's AO_ADMIN: new passwords, the last administrator, the
roles an AO_ADMIN may give, and one-time tokens."""

from __future__ import annotations

import pytest

from lrs_ws.domain import model
from lrs_ws.domain.errors import InvalidTransition, InvalidValue, LastAdministrator, PasswordRejected
from lrs_ws.domain.passwords import (
    check_password_rules,
    new_password_hash,
    new_token,
    token_digest,
    unusable_password_hash,
    verify_password,
)


def rule_broken(password: str, username: str = "ann.smith") -> str:
    with pytest.raises(PasswordRejected) as caught:
        check_password_rules(password, username)
    return caught.value.rule


def test_a_password_of_twelve_characters_that_is_neither_the_name_nor_common_is_accepted() -> None:
    check_password_rules("Kettle-Ridge7", "ann.smith")
    check_password_rules("x" * 11 + "y", "ann.smith")


@pytest.mark.parametrize("password", ["", "short", "Elevenchars"])
def test_a_password_under_twelve_characters_is_refused_for_its_length(password: str) -> None:
    assert rule_broken(password) == "length"


@pytest.mark.parametrize("password", ["ann.smith.mis", "ANN.SMITH.MIS", " ann.smith.mis "])
def test_the_user_name_is_refused_as_a_password_in_any_case_and_with_blanks_around(password: str) -> None:
    assert rule_broken(password, username="ann.smith.mis") == "username"


@pytest.mark.parametrize("password", ["password1234", "PASSWORD1234", "Qwerty123456", "1qaz2wsx3edc"])
def test_a_common_password_from_the_bundled_list_is_refused_in_any_case(password: str) -> None:
    assert rule_broken(password) == "common"


def test_the_demo_password_is_not_on_the_common_list() -> None:
    check_password_rules("DemoPassword0001", "demo1.admin")


def test_every_way_a_user_is_given_a_password_applies_the_same_rules() -> None:
    with pytest.raises(PasswordRejected):
        new_password_hash("password1234", "ann.smith")
    assert verify_password("Kettle-Ridge7", new_password_hash("Kettle-Ridge7", "ann.smith"))


def test_a_user_added_by_its_organisation_has_a_real_hash_that_no_password_matches() -> None:
    stored = unusable_password_hash()
    assert stored.startswith("scrypt$") and stored != unusable_password_hash()
    assert not verify_password("", stored) and not verify_password("DemoPassword0001", stored)


def test_a_token_is_stored_only_as_its_digest_and_the_digest_is_found_again_from_the_token() -> None:
    token, digest = new_token()
    assert len(token) >= 40 and token not in digest and len(digest) == 64
    assert token_digest(token) == digest and token_digest(f" {token}\n") == digest
    assert new_token()[0] != token


# -- the last AO_ADMIN ---------------------------------------------------------------------------------


def test_the_last_active_admin_cannot_remove_its_own_admin_role_or_deactivate_itself() -> None:
    with pytest.raises(LastAdministrator) as caught:
        model.check_admin_remains(acting_on_self=True, stays_admin=False, other_active_admins=0)
    assert "last active AO_ADMIN" in caught.value.message


def test_an_admin_with_another_active_admin_may_step_down() -> None:
    model.check_admin_remains(acting_on_self=True, stays_admin=False, other_active_admins=1)


def test_an_admin_keeping_its_role_is_never_refused() -> None:
    model.check_admin_remains(acting_on_self=True, stays_admin=True, other_active_admins=0)


def test_an_admin_acting_on_another_admin_always_leaves_itself() -> None:
    model.check_admin_remains(acting_on_self=False, stays_admin=False, other_active_admins=0)


# -- roles an AO_ADMIN gives ------------------------------------------------------------------------------


def test_an_admin_gives_only_its_organisations_roles() -> None:
    assert model.check_ao_roles([" edc_user", "AO_USER", ""]) == {"EDC_USER", "AO_USER"}
    for refused in (["LRS_SUPPORT"], ["AO_USER", "LRS_SUPPORT"], [], ["", " "], ["SUPERUSER"]):
        with pytest.raises(InvalidValue):
            model.check_ao_roles(refused)


def test_a_user_can_be_deactivated_once_and_reactivated_once() -> None:
    user = model.User(
        organisation_id=1, username="u", password_hash="x", email="u@x.example", roles="AO_USER"
    )
    user.set_active(False)
    with pytest.raises(InvalidTransition, match="already inactive"):
        user.set_active(False)
    user.set_active(True)
    with pytest.raises(InvalidTransition, match="already active"):
        user.set_active(True)
