"""`make start`: prepare the database, then run web, worker and sandbox until Ctrl-C.

    .venv/bin/python scripts/start.py [NAME ...]

Runs the processes of Procfile.dev (all of them, or the ones named) and watches them:

- every line a process prints is prefixed with its name;
- when one process ends on its own (a crash, `kill -9`), it says so and stops the others, and
  exits with status 1: a half-running product is worse than a stopped one;
- Ctrl-C (or SIGTERM) stops them all, each with its whole process group (so the worker's
  embedded beat never survives it), and exits with status 0.

Each process runs in a process group of its own, so a signal for one never reaches another and
nothing it started outlives it. With a terminal, the script takes the terminal's foreground for
itself, so Ctrl-C reaches the script (which stops the rest) rather than `make` around it.
To restart only the worker, run the rest in one terminal and the worker in another
(README, Operations): `scripts/start.py web sandbox` and `scripts/start.py worker`.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
PROCFILE = ROOT / "Procfile.dev"
# How long a process may take to stop after SIGTERM (the worker finishes the items in hand)
# before its group is killed; leases give back whatever it held.
STOP_GRACE_S = 20.0
POLL_S = 0.2

_print_lock = threading.Lock()


def say(name: str, line: str, width: int = 8) -> None:
    with _print_lock:
        sys.stdout.write(f"{time.strftime('%H:%M:%S')} {name:<{width}} | {line}\n")
        sys.stdout.flush()


def read_procfile(path: Path) -> dict[str, str]:
    processes = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)  # noqa: S603 (fixed arguments)


def prepare(var_dir: Path) -> None:
    var_dir.mkdir(parents=True, exist_ok=True)
    manage("migrate", "--no-input", "-v", "0")
    manage("collectstatic", "--no-input", "-v", "0")
    manage("bootstrap")


def how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class Process:
    def __init__(self, name: str, command: str, env: dict[str, str], width: int) -> None:
        self.name, self.command, self.width = name, command, width
        # `exec` makes the command itself the group leader; the shell expands ${VAR:-default}.
        self.popen = subprocess.Popen(  # noqa: S603 (the project's own Procfile)
            ["/bin/sh", "-c", f"exec {command}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._relay, daemon=True)
        self.reader.start()

    def _relay(self) -> None:
        assert self.popen.stdout is not None
        for raw in iter(self.popen.stdout.readline, b""):
            say(self.name, raw.decode("utf-8", "replace").rstrip("\r\n"), self.width)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def group_alive(self) -> bool:
        self.popen.poll()  # reap the leader, or it would count as alive
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def stop_all(processes: list[Process], width: int) -> None:
    for process in processes:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and any(p.group_alive() for p in processes):
        time.sleep(POLL_S)
    for process in processes:
        if process.group_alive():
            say("start", f"{process.name} did not stop within {STOP_GRACE_S:.0f} s: killed.", width)
            process.signal_group(signal.SIGKILL)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=5)
        process.reader.join(timeout=2)


def take_terminal() -> tuple[int, int] | None:
    """Become the terminal's foreground process group, so Ctrl-C reaches this script alone (and
    not `make`, which would die of it and report failure). Returns what to give back."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return None
    try:
        previous = os.tcgetpgrp(tty)
        if previous != os.getpgrp():
            os.close(tty)
            return None  # running in the background: leave the terminal alone
        os.setpgid(0, 0)
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(tty, os.getpgrp())
        finally:
            signal.signal(signal.SIGTTOU, old)
    except OSError:
        os.close(tty)
        return None
    return tty, previous


def give_back_terminal(taken: tuple[int, int] | None) -> None:
    if taken is None:
        return
    tty, previous = taken
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(tty, previous)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)
        os.close(tty)


def run(names: list[str]) -> int:
    definitions = read_procfile(PROCFILE)
    unknown = [name for name in names if name not in definitions]
    if unknown:
        print(f"Unknown process {', '.join(unknown)}; Procfile.dev has {', '.join(definitions)}.")
        return 2
    chosen = {name: definitions[name] for name in names or definitions}
    if "sandbox" in definitions:
        # The local stack runs the sandbox, here or in another terminal (README, Operations):
        # whatever runs here may send requests to it (SANDBOX_ENABLED, voiceflow_admin/settings.py).
        os.environ.setdefault("SANDBOX_ENABLED", "true")
    var_dir = Path(os.environ.get("VAR_DIR") or ROOT / "var")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if "web" in chosen:
        prepare(var_dir)
        port = os.environ.get("WEB_PORT", "8000")
        print(f"\nVoiceflow Session Admin is starting at http://127.0.0.1:{port}/")
        password_file = var_dir / "initial-admin-password"
        if password_file.exists():
            print(f"Sign in as 'admin' with the password in {password_file}")
    print("Stop everything with Ctrl-C.\n", flush=True)

    stopping = threading.Event()

    def request_stop(signum, frame) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    width = max(len(name) for name in [*chosen, "start"])
    processes = [Process(name, command, env, width) for name, command in chosen.items()]
    for process in processes:
        say("start", f"{process.name} started (process {process.popen.pid})", width)

    ended: Process | None = None
    while not stopping.is_set() and ended is None:
        ended = next((p for p in processes if p.popen.poll() is not None), None)
        stopping.wait(POLL_S)
    if ended is not None and not stopping.is_set():
        say(
            "start",
            f"{ended.name} ended ({how_it_ended(ended.popen.returncode)}); stopping the others. "
            "Run `make start` again to start everything.",
            width,
        )
        stop_all(processes, width)
        return 1
    say("start", "stopping everything…", width)
    stop_all(processes, width)
    say("start", "stopped.", width)
    return 0


def main(argv: list[str]) -> int:
    taken = take_terminal()
    try:
        return run(argv)
    except KeyboardInterrupt:  # Ctrl-C while the database was being prepared
        print("Stopped before the processes started.")
        return 0
    finally:
        give_back_terminal(taken)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
