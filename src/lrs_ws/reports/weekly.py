"""The weekly report of outstanding EDCs, one per awarding organisation (docs/edc.md).

"Outstanding" means not Complete: New, and InProgress whether undecided, Accepted (the corrective action may
still be due) or Rejected (waiting for LRS Business Support to close it). Each report holds only its own
organisation's EDCs.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from lrs_ws.domain import errors as e
from lrs_ws.domain import model, values
from lrs_ws.domain.mail import Attachment, OutgoingMail
from lrs_ws.domain.ports import AbstractUnitOfWork
from lrs_ws.service import edc_verification
from lrs_ws.spreadsheet import csv_text, safe_cell

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# (header, XLSX column width)
COLUMNS: list[tuple[str, int]] = [
    ("EDC reference", 14),
    ("ULN", 12),
    ("Given name", 16),
    ("Family name", 16),
    ("Achievement ID", 14),
    ("Achievement reference", 20),
    ("Achievement title", 48),
    ("Problem", 22),
    ("Recommended corrective action", 28),
    ("Supplied value", 16),
    ("Status", 12),
    ("Decision", 11),
    ("Action verified", 14),
    ("Date raised", 12),
    ("Days open", 10),
    ("Due date", 12),
    ("Overdue", 9),
]
DATE_COLUMNS = {"Date raised", "Due date"}
HEADER_FILL = PatternFill("solid", start_color="FFD9E1F2", end_color="FFD9E1F2")
OVERDUE_FILL = PatternFill("solid", start_color="FFFFC7CE", end_color="FFFFC7CE")


@dataclass(frozen=True)
class ReportRow:
    reference: str
    uln: str
    given_name: str
    family_name: str
    achievement_id: int
    achievement_reference: str
    achievement_title: str
    problem_type: str
    recommended_action: str
    supplied_value: str
    status: str
    decision: str
    action_verified: str
    date_raised: date
    days_open: int
    due_date: date
    overdue: bool

    def cells(self) -> list[object]:
        return [
            self.reference,
            self.uln,
            self.given_name,
            self.family_name,
            self.achievement_id,
            self.achievement_reference,
            self.achievement_title,
            self.problem_type,
            self.recommended_action,
            self.supplied_value,
            self.status,
            self.decision,
            self.action_verified,
            self.date_raised,
            self.days_open,
            self.due_date,
            "Yes" if self.overdue else "No",
        ]


@dataclass(frozen=True)
class OrgReport:
    organisation_ref: str
    organisation_name: str
    today: date
    rows: Sequence[ReportRow]

    @property
    def overdue_count(self) -> int:
        return sum(1 for r in self.rows if r.overdue)

    def filename(self, extension: str) -> str:
        return f"edc-weekly-{self.organisation_ref}-{self.today:%Y-%m-%d}.{extension}"

    def csv_bytes(self) -> bytes:
        """UTF-8 CSV with a header row; dates as YYYY-MM-DD; cells that a spreadsheet would run as a
        formula are made text (`lrs_ws.spreadsheet`)."""
        header = [name for name, _ in COLUMNS]
        return csv_text([header, *(row.cells() for row in self.rows)]).encode("utf-8")

    def xlsx_bytes(self) -> bytes:
        """A workbook: bold header, fixed widths, real date cells, overdue rows highlighted, header frozen."""
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "Outstanding EDCs"
        ws.append([name for name, _ in COLUMNS])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(vertical="center", wrap_text=True)
        for index, (_name, width) in enumerate(COLUMNS, start=1):
            ws.column_dimensions[get_column_letter(index)].width = width
        for r, row in enumerate(self.rows, start=2):
            for c, ((name, _), value) in enumerate(zip(COLUMNS, row.cells(), strict=True), start=1):
                cell = ws.cell(row=r, column=c, value=safe_cell(value) if isinstance(value, str) else value)
                if name in DATE_COLUMNS:
                    cell.number_format = "yyyy-mm-dd"
                if row.overdue:
                    cell.fill = OVERDUE_FILL
        ws.freeze_panes = "A2"
        last = get_column_letter(len(COLUMNS))
        ws.auto_filter.ref = f"A1:{last}{max(1, len(self.rows) + 1)}"

        about = wb.create_sheet("About")
        for label, value in (
            ("Organisation", f"{self.organisation_ref} {self.organisation_name}"),
            ("Report date", self.today),
            ("Outstanding EDCs", len(self.rows)),
            ("Overdue (open more than five weeks)", self.overdue_count),
        ):
            about.append([label, safe_cell(value) if isinstance(value, str) else value])
            about.cell(row=about.max_row, column=1).font = Font(bold=True)
        about["B2"].number_format = "yyyy-mm-dd"
        about.column_dimensions["A"].width = 36
        about.column_dimensions["B"].width = 48
        wb.properties.title = f"Outstanding EDCs {self.organisation_ref} {self.today:%Y-%m-%d}"
        wb.properties.creator = "lrs-ws"
        buffer = io.BytesIO()
        wb.save(buffer)
        return buffer.getvalue()


def _row(uow: AbstractUnitOfWork, edc: model.EventDataChallenge, today: date) -> ReportRow:
    achievement = uow.achievements.get_any(edc.achievement_id, edc.organisation_id)
    if edc.decision == model.ACCEPTED:
        verified = "Yes" if edc_verification.check(uow, edc).verified else "No"
    else:
        verified = ""
    return ReportRow(
        reference=edc.reference,
        uln=edc.uln,
        given_name=edc.given_name,
        family_name=edc.family_name,
        achievement_id=edc.achievement_id,
        achievement_reference=achievement.reference if achievement else "",
        achievement_title=achievement.title if achievement else "",
        problem_type=edc.problem_type,
        recommended_action=edc.recommended_action,
        supplied_value=edc.supplied_value,
        status=edc.status,
        decision=edc.decision or "",
        action_verified=verified,
        date_raised=edc.raised_at.date(),
        days_open=edc.days_open(today),
        due_date=edc.due_date,
        overdue=edc.overdue(today),
    )


def build(uow: AbstractUnitOfWork, *, org_ref: str | None, today: date) -> list[OrgReport]:
    """One report per organisation with outstanding EDCs, or exactly one (possibly empty) for `org_ref`."""
    with uow:
        if org_ref:
            clean_ref = values.check_org_ref(org_ref)
            organisation = uow.organisations.by_ref(clean_ref)
            if organisation is None:
                raise e.UnknownOrganisation(clean_ref)
            organisations = [organisation]
        else:
            organisations = list(uow.organisations.all())
        reports = []
        for organisation in organisations:
            assert organisation.id is not None
            rows = [_row(uow, edc, today) for edc in uow.edcs.outstanding(organisation.id)]
            if rows or org_ref:
                reports.append(OrgReport(organisation.ref, organisation.name, today, rows))
        return reports


def _email_body(report: OrgReport) -> str:
    lines = [
        f"The weekly report of outstanding Event Data Challenges for {report.organisation_name} "
        f"({report.organisation_ref}), {report.today:%d %B %Y}.",
        "",
        f"Outstanding: {len(report.rows)}. Overdue (open more than five weeks): {report.overdue_count}.",
        "",
        "The attached workbook and CSV list each EDC with its recommended corrective action,",
        "supplied value, status, decision, date raised, days open and due date; overdue rows are",
        "highlighted in the workbook. Please review and validate it, record your decisions (Accepted",
        "or Rejected), carry out any accepted action, and tell LRS Business Support the outcome.",
    ]
    return "\n".join(lines) + "\n"


def queue_emails(uow: AbstractUnitOfWork, *, reports: Sequence[OrgReport], now: datetime) -> int:
    """Queue each report, with its CSV and XLSX attached, to its organisation's active EDC users.

    Reports without rows are not sent. Returns the number of messages queued (in one transaction).
    """
    queued = 0
    with uow:
        for report in reports:
            if not report.rows:
                continue
            organisation = uow.organisations.by_ref(report.organisation_ref)
            if organisation is None or organisation.id is None:
                continue
            attachments = (
                Attachment(report.filename("xlsx"), XLSX_TYPE, report.xlsx_bytes()),
                Attachment(report.filename("csv"), CSV_TYPE, report.csv_bytes()),
            )
            for user in uow.users.with_role(organisation.id, model.ROLE_EDC_USER):
                uow.outbox.add(
                    OutgoingMail(
                        recipient=user.email,
                        subject=f"Outstanding Event Data Challenges for {report.organisation_ref}, "
                        f"week of {report.today:%d %B %Y}",
                        body=_email_body(report),
                        attachments=attachments,
                    ),
                    now,
                )
                queued += 1
        uow.commit()
    return queued
