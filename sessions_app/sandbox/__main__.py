"""`python -m sessions_app.sandbox`: run the sandbox until SIGTERM or Ctrl-C."""

import argparse
import signal
import sys
import threading
from pathlib import Path

from .server import serve


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sessions_app.sandbox",
        description="A local double of Voiceflow's Conversations API (docs/sandbox.md).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200, help="0 picks a free port")
    parser.add_argument("--no-demo", action="store_true", help="start without the demo project")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every runtime request")
    parser.add_argument(
        "--budget-per-minute", type=int, default=500, help="requests per key and window"
    )
    parser.add_argument("--window-seconds", type=float, default=60.0, help="rate-limit window")
    parser.add_argument(
        "--state-file",
        type=Path,
        help="load the store from this JSON file at start, save it periodically and on shutdown",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    server = serve(
        args.host,
        args.port,
        demo_data=not args.no_demo,
        latency_ms=args.latency_ms,
        budget_per_minute=args.budget_per_minute,
        window_seconds=args.window_seconds,
        state_file=args.state_file,
        access_log=args.access_log,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"sandbox listening on {server.url}", flush=True)
    while not stop.wait(0.2):
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
