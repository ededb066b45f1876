"""Reading a conversation for the inspector: every read also updates the known-sessions index."""

from ..known_sessions import note_session
from ..models import Environment
from ..voiceflow import client_for


def fetch_state(environment: Environment, user_id: str) -> dict:
    """The state Voiceflow holds now (`{}` for none); raises VoiceflowError."""
    state = client_for(environment).get_state(user_id)
    note_session(environment, user_id, state)
    return state
