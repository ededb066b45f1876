"""Finding sessions without knowing their userID.

Voiceflow's state APIs cannot list users (voiceflow-api.md §0); its transcript searches can list
conversations (§6). An import pages through one of them and records each userID in the
known-sessions index with the time of its last activity; the states of those users are then
read (paced by the project's request budget) so the index can be searched by variable value.
"""

from .importing import (
    MAX_PAGES,
    ImportReport,
    ReadReport,
    TranscriptSearch,
    import_from_transcripts,
    read_pending_states,
    source_for,
)
from .search import ACTIVITY_WINDOWS, search_by_activity

__all__ = [
    "ACTIVITY_WINDOWS",
    "MAX_PAGES",
    "ImportReport",
    "ReadReport",
    "TranscriptSearch",
    "import_from_transcripts",
    "read_pending_states",
    "search_by_activity",
    "source_for",
]
