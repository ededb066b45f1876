"""The audit trail's states keep each object's key order on both databases (PostgreSQL's jsonb
orders keys its own way), so an undo or restore writes back the state as it was, byte for byte."""

import json

import pytest

from sessions_app.models import AuditEntry
from sessions_app.stored_json import MARK, OrderKeepingJSONEncoder, StoredJSONDecoder

pytestmark = pytest.mark.production_path

# Keys as a Voiceflow state holds them: neither sorted nor in jsonb's order (length, then bytes).
STATE = {
    "variables": {"zeta": 1, "alpha": {"b": 2, "a": 1, "ccc": [{"y": 1, "x": 2}]}, "mid": "m"},
    "stack": [{"nodeID": "n", "diagramID": "d", "storage": {}, "variables": {"b": 1, "a": 2}}],
    "storage": {"z": 1, "aa": 2},
    MARK + "o": "a key of the data that looks like the order's",
}


def round_trip(value):
    return json.loads(json.dumps(value, cls=OrderKeepingJSONEncoder), cls=StoredJSONDecoder)


def test_the_encoder_keeps_every_objects_key_order_without_changing_values():
    restored = round_trip(STATE)

    assert restored == STATE
    assert json.dumps(restored) == json.dumps(STATE)


def test_objects_already_in_jsonb_order_carry_nothing_extra():
    text = json.dumps({"a": 1, "bb": {"x": 1, "yy": 2}}, cls=OrderKeepingJSONEncoder)

    assert text == '{"a": 1, "bb": {"x": 1, "yy": 2}}'


@pytest.mark.django_db
def test_an_audit_row_gives_back_the_state_in_its_own_order():
    entry = AuditEntry.objects.create(
        action=AuditEntry.Action.RESET, user_id="u-1", state_before=STATE, state_after={}
    )

    stored = AuditEntry.objects.get(pk=entry.pk).state_before

    assert json.dumps(stored) == json.dumps(STATE)
