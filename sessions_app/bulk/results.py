"""The results of a job as CSV: one line per item, streamed (a job may hold 100,000 items)."""

import csv
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
]


def _variables(state: dict | None, names: list[str] | None) -> str:
    variables = (state or {}).get("variables") or {}
    if names is not None:
        variables = {name: variables[name] for name in names if name in variables}
    return json.dumps(variables, ensure_ascii=False, sort_keys=True)


def result_rows(job: BulkJob) -> Iterator[list]:
    yield HEADER
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
        ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def iter_results_csv(job: BulkJob) -> Iterator[str]:
    """CSV text line by line, for a streaming HTTP response."""
    writer = csv.writer(_Echo())
    for row in result_rows(job):
        yield writer.writerow(row)


def write_results_csv(job: BulkJob, file: IO[str]) -> None:
    writer = csv.writer(file)
    for row in result_rows(job):
        writer.writerow(row)
