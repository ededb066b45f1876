"""`make bench` at tiny sizes: every benchmark runs, exits 0 and records its result, and a
benchmark whose items fail says so with a non-zero exit. Speed is not asserted here (bench/)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.worker


def bench_env(out: Path) -> dict[str, str]:
    """The benchmarks' own database, broker and output folder, never the tests'."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "CELERY_BROKER_URL", "EMBEDDED_BROKER_DIR")
        and not name.startswith(("BENCH_", "PYTEST_", "DJANGO_"))
    }
    # An empty broker URL: the filesystem broker under BENCH_OUT, also for two_workers.py.
    return env | {"BENCH_OUT": str(out), "BENCH_BROKER_URL": ""}


# Every benchmark starts its own sandbox, workers and database: on a busy machine the whole run
# takes longer than the suite's default per-test limit, and the run itself is limited to 900 s.
@pytest.mark.timeout(960)
def test_every_benchmark_runs_at_small_size(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"],
        cwd=ROOT,
        env=bench_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    preload = json.loads((tmp_path / "bulk_preload.json").read_text())
    assert preload["succeeded"] == preload["users"] == 30
    assert preload["lost_items"] == preload["doubled_items"] == 0
    assert preload["peer_users_per_minute"] > 0
    assert "ratio_product_to_peer" in preload
    two = json.loads((tmp_path / "two_workers.json").read_text())
    assert two["succeeded"] == 30
    assert two["lost_items"] == two["doubled_items"] == 0
    memory = json.loads((tmp_path / "memory.json").read_text())
    assert memory["worker_items_done"] > 0
    scale = json.loads((tmp_path / "scale.json").read_text())
    assert [size["items"] for size in scale["sizes"]] == [200, 400]
    assert all(size["measured_items"] > 0 for size in scale["sizes"])
    pages = json.loads((tmp_path / "db_scale.json").read_text())["pages"]
    assert len(pages) == 18 and all(page["queries"] > 0 for page in pages)
    segment_job = json.loads((tmp_path / "segment_job.json").read_text())["jobs"]
    assert [segment_job[what]["items"] for what in ("segment", "file")] == [200, 200]
    assert all(segment_job[what]["items_done"] > 0 for what in ("segment", "file"))
    reads = json.loads((tmp_path / "read_overhead.json").read_text())
    for read in (reads["inspector_page"], reads["api_session_get"]):
        assert read["requests"] == 5 and read["queries"] > 0
        assert read["upstream_ms_p50"] > 0  # the call to the sandbox was timed apart


def test_a_benchmark_whose_items_fail_exits_non_zero(tmp_path):
    """A sandbox the private-address guard refuses: every item fails, and the run says so."""
    env = bench_env(tmp_path) | {"BENCH_REFUSE_SANDBOX": "1"}
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bulk_preload.py"),
            *("--users", "5", "--latency-ms", "0", "--naive-users", "0"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "FAILED: 5 failed" in run.stdout
