"""The weekly outstanding-EDC report (CSV and XLSX), e-mailing it through the outbox, the EDC commands."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from support.demo import JAMES, SUPPORT_USER
from support.smtp import SmtpServer

from lrs_ws.app import Wiring
from lrs_ws.cli import main
from lrs_ws.db.tables_mail import outbox_attachments, outbox_messages
from lrs_ws.domain import model
from lrs_ws.domain.clock import utcnow
from lrs_ws.reports import weekly
from lrs_ws.service import edc_lifecycle
from lrs_ws.service.operator import operator_caller

HEADERS = [name for name, _ in weekly.COLUMNS]


def new_achievement(w: Wiring, org_ref: str, grade: str = "Pass") -> int:
    with w.uow_factory() as uow:
        org = uow.organisations.by_ref(org_ref)
        assert org is not None and org.id is not None
        a = model.Achievement(
            organisation_id=org.id,
            uln=JAMES,
            reference="600/1166/X",
            title="Level 2 Certificate in Health and Social Care",
            aim_type="Qualification",
            level="Level 2",
            grade=grade,
            award_date=date(2016, 7, 1),
            mis_identifier=uuid.uuid4().hex[:12],
            created_at=utcnow(),
        )
        uow.achievements.add(a)
        uow.commit()
        assert a.id is not None
        return a.id


def raise_edc(w: Wiring, achievement_id: int, value: str = "Merit") -> model.EventDataChallenge:
    return edc_lifecycle.raise_edc(
        w.uow_factory(),
        caller=operator_caller(w.uow_factory(), username=SUPPORT_USER),
        achievement_id=achievement_id,
        problem_type="GradeIncorrect",
        description="Wrong grade",
        recommended_action="EditGrade",
        supplied_value=value,
    ).edc


def by_ref(reports: list[weekly.OrgReport]) -> dict[str, weekly.OrgReport]:
    return {r.organisation_ref: r for r in reports}


def test_the_demo_report_lists_demo01s_two_open_edcs_and_flags_the_old_one_overdue(
    demo_wiring: Wiring,
) -> None:
    reports = weekly.build(demo_wiring.uow_factory(), org_ref=None, today=utcnow().date())
    assert list(by_ref(reports)) == ["DEMO01"]  # DEMO02 and LRS001 have nothing outstanding
    rows = {r.reference: r for r in reports[0].rows}
    assert set(rows) == {"EDC0000001", "EDC0000002"}  # EDC0000003 is Complete
    new, old = rows["EDC0000001"], rows["EDC0000002"]
    assert (new.status, new.days_open, new.overdue, new.supplied_value) == ("New", 3, False, "Merit")
    assert (old.status, old.days_open, old.overdue) == ("InProgress", 40, True)
    assert old.recommended_action == "TransferToLearner" and old.supplied_value == JAMES
    assert (old.given_name, old.family_name, old.achievement_reference) == ("Test", "Learner", "J/602/3521")
    assert old.achievement_title.startswith("Adapt and fit healthcare equipment")


def test_each_organisation_sees_only_its_own_edcs(demo_wiring: Wiring) -> None:
    demo2_edc = raise_edc(demo_wiring, new_achievement(demo_wiring, "DEMO02"))
    today = utcnow().date()
    reports = by_ref(weekly.build(demo_wiring.uow_factory(), org_ref=None, today=today))
    assert set(reports) == {"DEMO01", "DEMO02"}
    assert [r.reference for r in reports["DEMO02"].rows] == [demo2_edc.reference]
    assert demo2_edc.reference not in {r.reference for r in reports["DEMO01"].rows}
    assert demo2_edc.reference.encode() not in reports["DEMO01"].csv_bytes()
    assert b"EDC0000001" not in reports["DEMO02"].csv_bytes()
    (only,) = weekly.build(demo_wiring.uow_factory(), org_ref="demo02", today=today)
    assert only.organisation_ref == "DEMO02" and len(only.rows) == 1


def test_the_csv_has_a_header_iso_dates_and_one_row_per_outstanding_edc(demo_wiring: Wiring) -> None:
    (report,) = weekly.build(demo_wiring.uow_factory(), org_ref="DEMO01", today=utcnow().date())
    rows = list(csv.reader(io.StringIO(report.csv_bytes().decode("utf-8"))))
    assert rows[0] == HEADERS
    body = {r[0]: dict(zip(HEADERS, r, strict=True)) for r in rows[1:]}
    assert set(body) == {"EDC0000001", "EDC0000002"}
    old = body["EDC0000002"]
    assert old["Overdue"] == "Yes" and old["Days open"] == "40" and old["Status"] == "InProgress"
    assert date.fromisoformat(old["Due date"]) < utcnow().date()
    assert (utcnow().date() - date.fromisoformat(old["Date raised"])).days == 40
    assert body["EDC0000001"]["Overdue"] == "No"


def test_the_workbook_has_a_bold_frozen_header_real_dates_widths_and_highlighted_overdue_rows(
    demo_wiring: Wiring,
) -> None:
    (report,) = weekly.build(demo_wiring.uow_factory(), org_ref="DEMO01", today=utcnow().date())
    wb = load_workbook(io.BytesIO(report.xlsx_bytes()))
    ws = wb["Outstanding EDCs"]
    assert [c.value for c in ws[1]] == HEADERS
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["G"].width == 48  # the achievement title
    col = {name: i for i, name in enumerate(HEADERS)}
    rows = {r[0].value: r for r in ws.iter_rows(min_row=2)}
    assert set(rows) == {"EDC0000001", "EDC0000002"}
    for reference, row in rows.items():
        for name in ("Date raised", "Due date"):
            cell = row[col[name]]
            assert cell.is_date and isinstance(cell.value, datetime)
        overdue = reference == "EDC0000002"
        assert row[col["Overdue"]].value == ("Yes" if overdue else "No")
        fills = {c.fill.fgColor.rgb for c in row}
        assert fills == ({"FFFFC7CE"} if overdue else {"00000000"})
    about = dict(wb["About"].iter_rows(values_only=True))
    assert about["Outstanding EDCs"] == 2 and about["Overdue (open more than five weeks)"] == 1


@pytest.mark.parametrize("value", ["=1+2", "+1+2", "-1+2", "@SUM(A1)"])
def test_a_value_that_looks_like_a_formula_stays_text(demo_wiring: Wiring, value: str) -> None:
    raise_edc(demo_wiring, new_achievement(demo_wiring, "DEMO02"), value=value)
    (report,) = weekly.build(demo_wiring.uow_factory(), org_ref="DEMO02", today=utcnow().date())
    rows = list(csv.reader(io.StringIO(report.csv_bytes().decode("utf-8"), newline="")))
    assert rows[1][HEADERS.index("Supplied value")] == "'" + value
    ws = load_workbook(io.BytesIO(report.xlsx_bytes()))["Outstanding EDCs"]
    cell = ws.cell(row=2, column=HEADERS.index("Supplied value") + 1)
    assert cell.value == "'" + value and cell.data_type == "s"


# -- the commands ------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(demo_wiring: Wiring, monkeypatch: pytest.MonkeyPatch) -> Wiring:
    monkeypatch.setenv("LRS_WS_DATABASE_URL", demo_wiring.settings.database_url)
    monkeypatch.setenv("LRS_WS_LOG_JSON", "false")
    return demo_wiring


def test_the_report_command_writes_csv_and_xlsx_per_organisation_and_emails_them(
    cli_env: Wiring, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raise_edc(cli_env, new_achievement(cli_env, "DEMO02"))
    with cli_env.engine.connect() as conn:
        queued_before = len(list(conn.execute(select(outbox_messages.c.id))))
    out = tmp_path / "reports"
    assert main(["report", "edc-weekly", "--out", str(out), "--email"]) == 0
    today = utcnow().date()
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"edc-weekly-{org}-{today:%Y-%m-%d}.{ext}" for org in ("DEMO01", "DEMO02") for ext in ("csv", "xlsx")
    )
    assert "2 e-mail(s) queued" in capsys.readouterr().out

    with cli_env.engine.connect() as conn:
        messages = list(conn.execute(select(outbox_messages).order_by(outbox_messages.c.id)))[queued_before:]
        files = list(conn.execute(select(outbox_attachments)))
    assert sorted(m.recipient for m in messages) == ["demo1.edc@demo1.example", "demo2.edc@demo2.example"]
    for m in messages:
        org = "DEMO01" if "demo1" in m.recipient else "DEMO02"
        attached = sorted(f.filename for f in files if f.message_id == m.id)
        assert attached == [
            f"edc-weekly-{org}-{today:%Y-%m-%d}.csv",
            f"edc-weekly-{org}-{today:%Y-%m-%d}.xlsx",
        ]

    smtp = SmtpServer().start()
    try:
        monkeypatch.setenv("LRS_WS_SMTP_URL", smtp.url)
        assert main(["mail", "deliver"]) == 0
    finally:
        smtp.stop()
    reports = [m for m in smtp.received if "Outstanding Event Data Challenges" in str(m["Subject"])]
    demo2 = next(m for m in reports if str(m["To"]) == "demo2.edc@demo2.example")
    csv_part = next(p for p in demo2.iter_attachments() if p.get_filename().endswith(".csv"))
    assert "EDC0000001" not in csv_part.get_content()  # DEMO01's EDC never reaches DEMO02
    assert main(["mail", "status"]) == 0
    assert "given up: 0" in capsys.readouterr().out


def test_the_edc_commands_raise_and_close_as_the_named_support_user(
    cli_env: Wiring, capsys: pytest.CaptureFixture[str]
) -> None:
    a_id = new_achievement(cli_env, "DEMO01")
    assert (
        main(
            [
                "edc",
                "raise",
                "--achievement",
                str(a_id),
                "--problem",
                "Duplicate",
                "--description",
                "Uploaded twice",
                "--action",
                "Withdraw",
                "--user",
                "lrs.support",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    reference = out.split()[0]
    assert reference.startswith("EDC") and "1 e-mail(s) queued" in out

    assert main(["edc", "close", reference, "--user", "lrs.support"]) == 2
    assert "no decision" in capsys.readouterr().err
    assert (
        main(
            [
                "edc",
                "raise",
                "--achievement",
                str(a_id),
                "--problem",
                "Duplicate",
                "--description",
                "x",
                "--action",
                "Withdraw",
                "--user",
                "demo1.edc",
            ]
        )
        == 2
    )
    assert "Insufficient access" in capsys.readouterr().err
    assert main(["edc", "close", reference, "--user", "nobody"]) == 2
    assert "no active user" in capsys.readouterr().err
