"""What a job's item sends, as an `actions.Change`: the engine writes it and the dry run
(preview.py) shows the state it would leave, so both read the job the same way."""

from .. import actions
from ..models import BulkItem, BulkJob


def item_change(job: BulkJob, item: BulkItem) -> actions.Change:
    if job.kind == BulkJob.Kind.PRELOAD:
        return actions.SetVariables(item.variables or {})
    if job.kind == BulkJob.Kind.RESET:
        return actions.Reset()
    if job.kind == BulkJob.Kind.REMOVE_VARIABLES:
        return actions.RemoveVariables(list(job.variable_names), missing_ok=True)
    if job.kind == BulkJob.Kind.CAMPAIGN_END:
        values = item.variables or {}
        return actions.TakeBackVariables(values.get("set", {}), values.get("before", {}))
    return actions.PutBack(item.state_to_restore, restored_from=item.restores_entry)
