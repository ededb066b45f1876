"""`make start`: prepare the database, then run web, worker and sandbox until Ctrl-C."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)  # noqa: S603 (fixed arguments)


def main() -> int:
    (ROOT / "var").mkdir(exist_ok=True)
    manage("migrate", "--no-input", "-v", "0")
    manage("collectstatic", "--no-input", "-v", "0")
    manage("bootstrap")
    password_file = ROOT / "var" / "initial-admin-password"
    print("\nVoiceflow Session Admin is starting at http://127.0.0.1:8000/")
    if password_file.exists():
        print(f"Sign in as 'admin' with the password in {password_file.relative_to(ROOT)}")
    print("Stop everything with Ctrl-C.\n", flush=True)
    os.execv(  # noqa: S606 (hands the terminal to honcho)
        str(ROOT / ".venv" / "bin" / "honcho"),
        ["honcho", "--no-prefix", "start", "-f", "Procfile.dev", "-d", str(ROOT)],
    )


if __name__ == "__main__":
    sys.exit(main())
