"""The results of a job as CSV: one line per row of its input, streamed (a job may hold
100,000 items). Rows refused when the input was checked are there too (outcome `rejected`),
in file order among the items, so the file reconciles line by line with the upload."""

import csv
import heapq
import itertools
import json
from collections.abc import Iterator
from typing import IO

from ..models import BulkItem, BulkJob

HEADER = [
    "userID",
    "line",
    "outcome",
    "reason",
    "upstream_status",
    "variables_before",
    "variables_after",
    "rejected_column",
    "rejected_value",
]
REJECTED = "rejected"


def _variables(state: dict | None, names: list[str] | None) -> str:
    variables = (state or {}).get("variables") or {}
    if names is not None:
        variables = {name: variables[name] for name in names if name in variables}
    return json.dumps(variables, ensure_ascii=False, sort_keys=True)


def result_rows(job: BulkJob) -> Iterator[list]:
    yield HEADER
    by_line = heapq.merge(_item_rows(job), _rejected_rows(job), key=lambda row: row[1] or 0)
    yield from by_line


def _rejected_rows(job: BulkJob) -> Iterator[list]:
    """One line per refused row of the input, its problems joined (a row may have several)."""
    rows = job.rejected_rows.filter(line__isnull=False).order_by("line", "pk")
    for line, problems in itertools.groupby(rows.iterator(chunk_size=500), key=lambda r: r.line):
        problems = list(problems)
        yield [
            next((p.user_id for p in problems if p.user_id), ""),
            line,
            REJECTED,
            " ".join(p.reason for p in problems),
            "",
            "",
            "",
            "; ".join(p.column for p in problems if p.column),
            "; ".join(p.value for p in problems if p.value),
        ]


def _item_rows(job: BulkJob) -> Iterator[list]:
    items = job.items.select_related("audit_entry").order_by("line_number")
    for item in items.iterator(chunk_size=500):
        before = after = ""
        entry = item.audit_entry
        if item.status == BulkItem.Status.SUCCEEDED and entry is not None:
            # A preload touches only its own variables: show those; resets and undos change all.
            names = (
                sorted(item.variables)
                if job.kind == BulkJob.Kind.PRELOAD and item.variables
                else sorted(item.variables.get("set", {}))
                if job.kind == BulkJob.Kind.CAMPAIGN_END and item.variables
                else None
            )
            before = _variables(entry.state_before, names)
            after = _variables(entry.state_after, names)
        yield [
            item.user_id,
            item.line_number,
            item.status,
            item.reason,
            item.upstream_status if item.upstream_status is not None else "",
            before,
            after,
            "",
            "",
        ]


# OWASP's CSV injection guidance: a cell starting with one of these is a formula to a
# spreadsheet (`=cmd|' /C calc'!A0`); a leading single quote makes it text.
# https://owasp.org/www-community/attacks/CSV_Injection
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: object) -> object:
    """The cell as a spreadsheet shows it as text: `'` before a formula-leading string."""
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def _safe_rows(job: BulkJob) -> Iterator[list]:
    for row in result_rows(job):
        yield [neutralised(cell) for cell in row]


class _Echo:
    def write(self, value: str) -> str:
        return value


def iter_results_csv(job: BulkJob) -> Iterator[str]:
    """CSV text line by line, for a streaming HTTP response."""
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_ALL)
    for row in _safe_rows(job):
        yield writer.writerow(row)


def write_results_csv(job: BulkJob, file: IO[str]) -> None:
    writer = csv.writer(file, quoting=csv.QUOTE_ALL)
    for row in _safe_rows(job):
        writer.writerow(row)
