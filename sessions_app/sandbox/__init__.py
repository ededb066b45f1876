"""A local double of Voiceflow's Conversations API, served over HTTP (docs/sandbox.md).

A standalone process with no Django and no third-party dependencies:
`python -m sessions_app.sandbox --port 8200`, or `serve(...)` in-process.
"""

from .demo import DEMO_ACCESS_TOKEN, DEMO_API_KEY, DEMO_PROJECT_ID, DEMO_VERSIONS
from .server import SandboxServer, serve

__all__ = [
    "DEMO_ACCESS_TOKEN",
    "DEMO_API_KEY",
    "DEMO_PROJECT_ID",
    "DEMO_VERSIONS",
    "SandboxServer",
    "serve",
]
