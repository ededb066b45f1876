"""/healthz for load balancers: the database always, the broker when asked (`?deep=1`), each
answered within seconds whatever is down."""

import socket
import time

import pytest
from django.test import Client
from reliability_support import free_port, publishing_to

from sessions_app.views.health import BROKER_CHECK_TIMEOUT_S

pytestmark = pytest.mark.production_path


@pytest.fixture
def anonymous(db) -> Client:
    return Client()


@pytest.fixture
def silent_broker():
    """A port that accepts connections and never answers, like a Redis that hangs."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=50)
    with publishing_to(f"redis://127.0.0.1:{listener.getsockname()[1]}/0"):
        yield
    listener.close()


def test_it_answers_without_signing_in_when_the_database_answers(anonymous):
    response = anonymous.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": "ok"}


def test_deep_also_checks_the_broker(anonymous, test_broker):
    response = anonymous.get("/healthz", {"deep": "1"})

    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": "ok", "broker": "ok"}


def test_deep_reports_a_broker_that_refuses_connections_as_unavailable(anonymous):
    with publishing_to(f"redis://127.0.0.1:{free_port()}/0"):
        response = anonymous.get("/healthz", {"deep": "1"})

    assert response.status_code == 503
    assert response.json() == {"ok": False, "database": "ok", "broker": "unavailable"}


def test_deep_answers_within_its_time_out_when_the_broker_hangs(anonymous, silent_broker):
    started = time.monotonic()
    response = anonymous.get("/healthz", {"deep": "1"})
    elapsed_s = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["broker"] == "unavailable"
    assert elapsed_s < BROKER_CHECK_TIMEOUT_S + 2


def test_the_plain_check_does_not_depend_on_the_broker(anonymous, silent_broker):
    response = anonymous.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": "ok"}


def test_it_answers_plain_http_probes_when_everything_else_redirects_to_https(anonymous, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/accounts/login/").status_code == 301
