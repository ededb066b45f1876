"""Write a `.env` with freshly generated secrets on first use; never overwrite an existing one."""

import base64
import os
import secrets
import sys
from pathlib import Path

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def main() -> int:
    if ENV_FILE.exists():
        return 0
    fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    ENV_FILE.write_text(
        "# Generated on first run; see README.md (Configuration) for every variable.\n"
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"VOICEFLOW_ADMIN_ENCRYPTION_KEYS={fernet_key}\n"
    )
    ENV_FILE.chmod(0o600)
    print(f"Wrote {ENV_FILE} with new secrets.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
