"""The fast writer of the hot reads' results writes exactly what spyne's generic writer writes, element for
element, for every shape a value can take; each converter it plans gives spyne's converter's text, or fails
as it does, for values of every kind."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree
from spyne import Boolean, Date, Integer, MethodContext, Unicode
from spyne.protocol.soap import Soap11
from spyne.server import ServerBase

from lrs_ws.domain import model
from lrs_ws.soap import convert, fast_results
from lrs_ws.soap import portal_types as t
from lrs_ws.soap.application import LrsSoap11

MODEL = "http://api.lrs.qcf.gov.uk/model"
SERVICES = "http://api.lrs.qcf.gov.uk/services"


def summary(**changes: Any) -> t.AchievementSummary:
    fields: dict[str, Any] = {
        "AchievementId": 7,
        "Uln": "3415521949",
        "Subject": "Adapt & fit <healthcare> équipement",
        "ReferenceNumber": "J/602/3521",
        "Type": "Unit",
        "Level": "Level 3",
        "Grade": "",
        "AwardDate": date(2010, 1, 3),
        "LanguageForAssessment": "Cymraeg",
        "ProviderUkprn": "10000001",
        "MisIdentifier": "DEMO01-03",
        "Status": "Final",
        "Withdrawn": False,
        "UnderDataChallenge": "N",
        "Version": 3,
    }
    fields.update(changes)
    return t.AchievementSummary(**fields)


def learner(achievements: Any) -> t.LearnerAchievements:
    return t.LearnerAchievements(
        Uln="3415521949", GivenName="Zoë", FamilyName="O'Brien", TotalCount=120, Achievements=achievements
    )


def _stored() -> model.AchievementData:
    a = model.AchievementData(
        organisation_id=1,
        uln="3415521949",
        reference="J/602/3521",
        title="Adapt & fit",
        aim_type="Unit",
        level="Level 3",
        grade="Distinction*",
        award_date=date(2010, 1, 1),
        created_at=datetime(2020, 1, 1),
    )
    a.id, a.version, a.under_challenge = 1, 4, True
    return a


CASES = {
    "a page of summaries": (
        t.LearnerAchievements,
        learner(
            [
                summary(),
                summary(AchievementId=2**31 - 1, Withdrawn=True, UnderDataChallenge="Y", Grade="Pass"),
                summary(
                    Type=None,
                    Level=None,
                    Grade=None,
                    LanguageForAssessment=None,
                    ProviderUkprn=None,
                    MisIdentifier=None,
                ),
            ]
        ),
    ),
    "no achievements on the page": (t.LearnerAchievements, learner([])),
    "no achievements at all": (t.LearnerAchievements, learner(None)),
    "a missing summary in the page": (t.LearnerAchievements, learner([summary(), None])),
    "one summary": (t.AchievementSummary, summary(Subject="Ünïcödé 漢字 \t tab")),
    "mandatory members missing": (t.AchievementSummary, summary(Subject=None, AwardDate=None, Version=None)),
    "a summary as the service builds it": (t.AchievementSummary, convert.achievement_summary(_stored())),
    "a summary inside an EDC": (
        t.EventDataChallenge,
        t.EventDataChallenge(
            Reference="EDC0000001",
            AchievementId=7,
            Uln="3415521949",
            ProblemType="Grade",
            Description="x",
            RecommendedAction="EditGrade",
            Status="New",
            DateRaised=datetime(2024, 1, 5, 12, 0, 0),
            DueDate=date(2024, 2, 5),
            DaysOpen=3,
            Overdue=False,
            ActionVerified=False,
            Version=1,
            Achievement=summary(),
        ),
    ),
}


@pytest.fixture(scope="module", autouse=True)
def application() -> Any:
    """The service's Application, built once: building it gives the types their namespaces."""
    from lrs_ws.app import soap_services
    from lrs_ws.config import Settings
    from lrs_ws.soap.application import build_application
    from lrs_ws.soap.context import Deps

    return build_application(soap_services(), Deps(settings=Settings(), uow_factory=lambda: None))  # type: ignore[arg-type,return-value]


def written(protocol: LrsSoap11, cls: Any, value: Any) -> etree._Element:
    """`value` written by `protocol` as the result element of a response, in spyne's envelope namespaces."""
    body = etree.Element(f"{{{SERVICES}}}Response", nsmap={"tns": SERVICES, "s0": MODEL})
    ret = protocol.to_parent(None, cls, value, body, SERVICES, "Result")
    if ret is not None:  # spyne's generic writer is a coroutine: run it to the end
        ret.close()
    return body


@pytest.mark.parametrize("case", CASES)
def test_the_fast_writer_and_spynes_writer_agree_element_for_element(case: str) -> None:
    cls, value = CASES[case]
    fast = LrsSoap11()
    fast_results.install(fast)
    expected = written(LrsSoap11(), cls, value)
    got = written(fast, cls, value)
    shape = [(e.tag, dict(e.attrib), e.text) for e in expected.iter()]
    assert [(e.tag, dict(e.attrib), e.text) for e in got.iter()] == shape
    assert etree.tostring(got) == etree.tostring(expected)
    assert len(shape) > 2


def test_a_value_xml_cannot_carry_is_refused_by_the_fast_writer_as_by_spynes() -> None:
    fast = LrsSoap11()
    fast_results.install(fast)
    bad = summary(Subject="bell \x07")
    with pytest.raises(ValueError):
        written(LrsSoap11(), t.AchievementSummary, bad)
    with pytest.raises(ValueError):
        written(fast, t.AchievementSummary, bad)


class Undecidable:
    """A value with no truth value (as a numpy array of several numbers)."""

    def __bool__(self) -> bool:
        raise ValueError("no truth value")


# Values of every kind a result's member might be handed, the expected ones and the unexpected.
VALUES = [
    0,
    -1,
    7,
    2**31 - 1,
    2**63,
    -(2**70),
    True,
    False,
    3.5,
    Decimal("12.50"),
    "12",
    "abc",
    "",
    date(2010, 1, 3),
    date(1, 1, 1),
    date(9999, 12, 31),
    datetime(2024, 1, 5, 12, 0, 0),
    datetime(2024, 1, 5, 23, 30, 0, 15, tzinfo=timezone(timedelta(hours=-5))),
    None,
    [],
    object(),
    Undecidable(),
]

# Declared types of a member: those of the results' members, and the same types with attributes that change
# what spyne writes for them (which must keep spyne's converter).
DECLARED = {
    "Integer": Integer(min_occurs=1, nillable=False),
    "Integer with a format": Integer(format="%05d"),
    "Integer with a str_format": Integer(str_format="{:x}"),
    "Date": Date(min_occurs=1, nillable=False),
    "Date with a date_format": Date(date_format="%d/%m/%Y"),
    "Date with a str_format": Date(str_format="on {:%d %B %Y}"),
    "Date serialised as a string": Date(serialize_as="str"),
    "Boolean": Boolean(min_occurs=1, nillable=False),
    "Unicode": Unicode(max_len=20),
    "Unicode with a str_format": Unicode(str_format="[{}]"),
}


def outcome(convert: Any, value: Any) -> Any:
    """What a converter makes of `value`: its text, or the class of the exception it raises."""
    try:
        return convert(value)
    except Exception as exc:
        return type(exc)


def planned_text(protocol: LrsSoap11, member: Any, value: Any) -> Any:
    """`value`'s text as the fast writer's plan for a `member` writes it (a str as it is for plain text)."""
    kind, convert = fast_results._converter(protocol, member)
    return outcome(lambda v: v if kind == fast_results._STR and type(v) is str else convert(v), value)


@pytest.mark.parametrize("declared", DECLARED)
def test_each_planned_converter_gives_spynes_text_or_fails_as_spynes_does(
    application: Any, declared: str
) -> None:
    protocol = application.out_protocol
    member = DECLARED[declared]
    spynes = protocol._to_unicode_handlers[member]
    for value in VALUES:
        assert planned_text(protocol, member, value) == outcome(lambda v: spynes(member, v), value), value


def test_the_results_integers_dates_and_booleans_are_converted_by_plain_functions(application: Any) -> None:
    steps = fast_results._plan(application.out_protocol, t.AchievementSummary)
    converters = {name: how for _kind, _tag, name, how, _what, _mandatory in steps}
    assert converters["AchievementId"] is converters["Version"] is fast_results._integer
    assert converters["AwardDate"] is fast_results._date
    assert converters["Withdrawn"] is fast_results._boolean


def test_a_protocol_overriding_spynes_converter_keeps_its_own(application: Any) -> None:
    class Hex(LrsSoap11):
        def integer_to_unicode(self, cls: Any, value: Any, **_: Any) -> str:
            return format(value, "x")

    assert planned_text(Hex(), Integer, 255) == "ff"


@pytest.mark.parametrize(
    "members",
    [
        {"AchievementId": 0, "Version": -(2**70), "Withdrawn": True},
        {"AchievementId": True, "Version": Decimal("3"), "Withdrawn": 0},
        {"AchievementId": "12", "Version": 2**63, "Withdrawn": "no"},
        {"AwardDate": datetime(2024, 1, 5, 23, 30, tzinfo=timezone(timedelta(hours=-5)))},
        {"AwardDate": date(1, 1, 1)},
        {"Subject": b"Adapt & fit"},
    ],
)
def test_unexpected_values_of_a_summary_are_written_as_spyne_writes_them(members: dict[str, Any]) -> None:
    fast = LrsSoap11()
    fast_results.install(fast)
    value = learner([summary(**members), summary()])
    expected = written(LrsSoap11(), t.LearnerAchievements, value)
    assert etree.tostring(written(fast, t.LearnerAchievements, value)) == etree.tostring(expected)


@pytest.mark.parametrize(
    "members",
    [
        {"AchievementId": "seven"},
        {"AwardDate": "2010-01-03"},
        {"Uln": 3415521949},
        {"Withdrawn": Undecidable()},
    ],
)
def test_a_value_spyne_cannot_convert_is_refused_by_the_fast_writer_as_by_spynes(
    members: dict[str, Any],
) -> None:
    fast = LrsSoap11()
    fast_results.install(fast)
    bad = summary(**members)
    with pytest.raises(Exception) as spynes:
        written(LrsSoap11(), t.AchievementSummary, bad)
    with pytest.raises(spynes.type):
        written(fast, t.AchievementSummary, bad)


def answer(app: Any, operation: str, value: Any, *, fast: bool) -> bytes:
    """The bytes of `operation`'s successful answer carrying `value`, as the service sends them (`fast`) or
    as spyne's own Soap11.serialize writes them."""
    protocol = app.out_protocol
    ctx = MethodContext(ServerBase(app), MethodContext.SERVER)
    ctx.descriptor = app.interface.service_method_map[f"{{{SERVICES}}}{operation}"][0]
    ctx.out_object = [value]
    if fast:
        assert fast_results.write_response(protocol, ctx)
    else:
        Soap11.serialize(protocol, ctx, protocol.RESPONSE)
    protocol.create_out_string(ctx)
    return b"".join(ctx.out_string)


ANSWERS = {
    "a page of summaries": ("GetLearnerAchievements", CASES["a page of summaries"][1]),
    "no achievements at all": ("GetLearnerAchievements", CASES["no achievements at all"][1]),
    "an empty page": ("GetLearnerAchievements", CASES["no achievements on the page"][1]),
    "a missing summary in the page": ("GetLearnerAchievements", CASES["a missing summary in the page"][1]),
    "one achievement": ("GetAchievement", CASES["a summary as the service builds it"][1]),
    "an achievement with mandatory members missing": (
        "GetAchievement",
        CASES["mandatory members missing"][1],
    ),
}


@pytest.mark.parametrize("case", ANSWERS)
def test_the_fast_answer_and_spynes_envelope_are_the_same_bytes(application: Any, case: str) -> None:
    operation, value = ANSWERS[case]
    expected = answer(application, operation, value, fast=False)
    assert answer(application, operation, value, fast=True) == expected
    assert f"<tns:{operation}Response>".encode() in expected


def test_an_answer_without_a_result_is_left_to_spyne(application: Any) -> None:
    ctx = MethodContext(ServerBase(application), MethodContext.SERVER)
    ctx.descriptor = application.interface.service_method_map[f"{{{SERVICES}}}GetAchievement"][0]
    ctx.out_object = [None]
    assert not fast_results.write_response(application.out_protocol, ctx)
    assert ctx.out_document is None
