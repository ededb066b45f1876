"""The pages and API endpoints that grow with an installation, timed on a large database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/voiceflow_admin_scale \\
        .venv/bin/python manage.py seed_scale_data          # 1 M audit entries, 1 M known
                                                            # sessions, a 100,000-item job
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/voiceflow_admin_scale \\
        .venv/bin/python bench/db_scale.py [--repeat 20]

Each page is requested through Django's test client in this process (the whole view, template
and middleware; no HTTP server), `--repeat` times after one warm-up; the p50 and the number of
SQL queries are reported, with PostgreSQL's plan for the searches. Without BENCH_DATABASE_URL it
seeds a small SQLite database itself (`--seed-size`), which only shows that it runs.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, save_result, setup_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed-size", type=int, default=0, help="seed this many rows first")
    args = parser.parse_args()

    import os

    database_url = os.environ.get("BENCH_DATABASE_URL")
    env = {"LOG_LEVEL": "WARNING"}
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        OUT.mkdir(parents=True, exist_ok=True)
        db_file = OUT / "db_scale.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{db_file}"
        args.seed_size = args.seed_size or 1000
    (OUT / "db_scale.json").unlink(missing_ok=True)
    setup_django(env)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from sessions_app.models import (
        AuditEntry,
        BulkJob,
        Environment,
        KnownSession,
        OperatorPreference,
    )
    from sessions_app.roles import ensure_roles

    if args.seed_size:
        call_command(
            "seed_scale_data",
            audit_entries=args.seed_size,
            known_sessions=args.seed_size,
            job_items=args.seed_size,
        )
    environment = (
        Environment.objects.filter(project__name__startswith="Scale data").order_by("-pk").first()
    )
    job = BulkJob.objects.filter(environment=environment).order_by("-total_items").first()
    admin, _ = get_user_model().objects.get_or_create(username="bench-admin")
    admin.groups.add(ensure_roles()["Admin"])
    OperatorPreference.objects.update_or_create(user=admin, defaults={"environment": environment})
    from django.conf import settings
    from django.test.utils import override_settings

    # Pages render with static file names from the finders (no collectstatic needed here).
    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin, backend="sessions_app.access.PermissionsBackend")
    operator = "scale-operator-3"
    known = reverse("api-known-sessions", args=[environment.pk])
    pages = {
        "home: known sessions, newest": (reverse("home"), {}),
        "home: userID prefix (any case)": (reverse("home"), {"prefix": "customer-00123"}),
        "home: variable value": (reverse("home"), {"value": "ord-12345"}),
        "API known sessions": (known, {}),
        "API known sessions: prefix": (known, {"user_prefix": "CUSTOMER-00123"}),
        "API known sessions: value": (known, {"variable": "ord-12345"}),
        "audit list": (reverse("audit_list"), {}),
        "audit list: operator": (reverse("audit_list"), {"operator": operator}),
        "audit list: action + outcome": (
            reverse("audit_list"),
            {"action": "reset", "outcome": "failed"},
        ),
        "audit list: userID": (reverse("audit_list"), {"user": "Customer-0001234"}),
        "audit list: environment + dates": (
            reverse("audit_list"),
            {"environment": environment.pk, "date_from": "2020-01-01", "date_to": "2099-12-31"},
        ),
        "API audit: operator": (reverse("api-audit"), {"actor": operator}),
        "API audit: outcome": (reverse("api-audit"), {"outcome": "conflict"}),
        "jobs list": (reverse("job_list"), {}),
        "job page (100,000 items)": (reverse("job_detail", args=[job.pk]), {}),
        "job progress (polled)": (reverse("job_progress", args=[job.pk]), {}),
        "API job list": (reverse("api-jobs"), {}),
        "API job": (reverse("api-job", args=[job.pk]), {}),
    }
    results = []
    for name, (url, params) in pages.items():
        response = client.get(url, params)
        if response.status_code != 200:
            print(f"FAILED: {name} answered {response.status_code}")
            return 1
        times = []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                client.get(url, params)
                times.append((time.perf_counter() - started) * 1000)
        results.append(
            {
                "page": name,
                "p50_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
                "queries": len(captured.captured_queries),
            }
        )
        print(f"{name:40} p50 {results[-1]['p50_ms']:7.1f} ms  {results[-1]['queries']} queries")
    plans = {}
    if connection.vendor == "postgresql":
        from sessions_app.known_sessions import search_known_sessions

        searches = {
            "known sessions prefix": search_known_sessions(
                environment, user_id_prefix="customer-00123"
            )[:25],
            "known sessions value": search_known_sessions(environment, variable_value="ord-12345")[
                :25
            ],
            "audit by operator": AuditEntry.objects.filter(actor_name=operator)[:50],
        }
        for name, query in searches.items():
            plans[name] = query.explain()
            print(f"-- plan: {name}\n{plans[name]}")
    save_result(
        "db_scale",
        {
            "database": connection.vendor,
            "audit_entries": AuditEntry.objects.count(),
            "known_sessions": KnownSession.objects.filter(environment=environment).count(),
            "job_items": job.total_items,
            "repeat": args.repeat,
            "pages": results,
            "plans": plans,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
