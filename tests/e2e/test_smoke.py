"""The demo world answers over HTTP: a first check that the live-server stack works."""

from support.demo import TEST_LEARNER
from support.soap import DEMO1, expect_fault


def test_an_ao_user_sees_the_three_demo_achievements_of_test_learner(soap):
    result = soap.GetLearnerAchievements(
        invokingUser=DEMO1, uln=TEST_LEARNER, sortBy="AwardDate", sortDescending=True
    )
    assert result.GivenName == "Test" and result.FamilyName == "Learner"
    assert result.TotalCount == 3
    dates = [a.AwardDate.isoformat() for a in result.Achievements.AchievementSummary]
    assert dates == ["2010-01-03", "2010-01-02", "2010-01-01"]


def test_a_wrong_password_is_refused_with_wsec0003(soap):
    expect_fault(
        "WSEC0003",
        soap.GetLearnerAchievements,
        invokingUser={**DEMO1, "OrgPassword": "wrong"},
        uln=TEST_LEARNER,
    )
