"""A job tells someone when it finishes: an email through Django's mail and a Slack-compatible
webhook, each once, sent by the real worker; the webhook goes through the private-address guard
like every call to Voiceflow."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from bulk_support import reset_users, wait_for, wait_until_finished

from sessions_app import bulk
from sessions_app.models import BulkJob
from sessions_app.notifications import FINISHED, notify_job

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


@pytest.fixture
def receiver():
    """A webhook receiver on loopback, recording each JSON body it gets."""
    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.bodies = bodies
    yield server
    server.shutdown()


def test_a_finished_job_emails_and_posts_once(
    celery_worker, receiver, sandbox, sandbox_project, environment, ops, tmp_path, settings
):
    origin = receiver.url.rsplit("/", 1)[0]
    mail_dir = tmp_path / "mail"
    celery_worker.kill()
    celery_worker.start(
        EMAIL_URL=f"filemail:///{mail_dir}",  # django-environ drops one slash of the path
        VOICEFLOW_ALLOW_PRIVATE_URLS=",".join([*settings.VOICEFLOW_ALLOW_PRIVATE_URLS, origin]),
    )
    job = reset_users(environment, ops, ["n-1", "n-2"])
    BulkJob.objects.filter(pk=job.pk).update(
        notify_emails="ops@example.com", notify_webhook_url=receiver.url
    )
    bulk.start_job(job, ops)
    wait_until_finished(job)

    wait_for(lambda: receiver.bodies, what="the webhook")
    assert len(receiver.bodies) == 1
    text = receiver.bodies[0]["text"]
    assert f"Reset sessions #{job.pk}" in text and "finished. 2 done, 0 failed" in text
    mails = wait_for(lambda: list(mail_dir.glob("*.log")), what="the email")
    message = mails[0].read_text()
    assert "To: ops@example.com" in message and "2 done" in message
    job.refresh_from_db()
    assert job.notified == [FINISHED]
    assert notify_job(job.pk, FINISHED) is False  # announced once


def test_a_webhook_to_a_private_address_is_not_sent(receiver, environment, ops, settings):
    """Saved before the address was refused (or resolving elsewhere since): the connection is
    checked again when the notification is sent."""
    settings.VOICEFLOW_ALLOW_PRIVATE_URLS = []
    job = BulkJob.objects.create(
        kind=BulkJob.Kind.RESET,
        environment=environment,
        created_by=ops,
        notify_webhook_url=receiver.url,
    )

    assert notify_job(job.pk, FINISHED) is True

    assert receiver.bodies == []
