"""`make bench`: every benchmark, one after the other; results in var/bench/*.json.

The numbers recorded in docs/benchmarks.md come from these runs. Exits 1 when any benchmark
failed (an item failed, was lost or written twice, or the run itself broke).

    .venv/bin/python bench/run.py            # the sizes of docs/benchmarks.md
    .venv/bin/python bench/run.py --smoke    # tiny sizes, no latency: does every benchmark run?

The smoke run is part of the test suite (tests/test_bench_smoke.py).
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    "bulk_preload.py": [],
    "memory.py": [],
    "two_workers.py": [],
    "scale.py": [],
    "db_scale.py": [],
    "flow_map.py": [],
    "segment_job.py": [],
    "read_overhead.py": [],
}
SMOKE = {
    "bulk_preload.py": ["--users", "30", "--latency-ms", "0", "--budget", "30000"],
    "memory.py": ["--rows", "200", "--worker-seconds", "3"],
    "two_workers.py": ["--users-per-job", "15", "--latency-ms", "0", "--budget", "30000"],
    "scale.py": ["--sizes", "200,400", "--audit-entries", "500", "--window-items", "150"],
    "db_scale.py": ["--seed-size", "300", "--repeat", "2"],
    "segment_job.py": ["--members", "200", "--window-items", "50"],
    "read_overhead.py": ["--requests", "5"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check they run")
    args = parser.parse_args()
    plan = SMOKE if args.smoke else BENCHMARKS
    failed = []
    for script, arguments in plan.items():
        print(f"== {script} {' '.join(arguments)}", flush=True)
        command = [sys.executable, str(HERE / script), *arguments]
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
