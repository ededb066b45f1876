"""Uploading bulk input: every bad row is reported with its line, column and value, the job stays
a draft, and nothing reaches Voiceflow."""

import html
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sessions_app import bulk
from sessions_app.models import BulkItem, BulkJob

HEADER = "userID,plan:string,credits:integer,vip:boolean,profile:json"


def upload(client, environment, content: bytes, *, fmt: str = "csv", name: str = "input.csv"):
    return client.post(
        reverse("job_new"),
        {
            "mode": "file",
            "format": fmt,
            "environment": environment.pk,
            "file": SimpleUploadedFile(name, content),
        },
    )


def checked(response) -> BulkJob:
    """The job an upload created, once checked: the page answered at once with the input
    stored, and the worker's check (run here in-process) made it a draft."""
    assert response.status_code == 302, response.content[:500]
    job = BulkJob.objects.get(pk=response.url.rstrip("/").split("/")[-1])
    assert job.status == BulkJob.Status.VALIDATING
    bulk.validate_upload(job.pk)
    job.refresh_from_db()
    return job


def uploaded_job(client, environment, content: bytes, **kwargs) -> BulkJob:
    return checked(upload(client, environment, content, **kwargs))


def problems_of(job: BulkJob) -> list[tuple]:
    return [(p["line"], p["column"], p["message"]) for p in job.validation_report["problems"]]


def nothing_sent(sandbox, sandbox_project) -> bool:
    return sandbox.stats(sandbox_project["api_key"])["requests"] == 0


@pytest.mark.parametrize(
    ("row", "column", "message_part"),
    [
        (",gold,1,true,{}", "userID", "userID is missing"),
        ("u" * 14_337 + ",gold,1,true,{}", "userID", "This userID is too long"),
        ('"tab\there",gold,1,true,{}', "userID", "control character"),
        ("bad-int,gold,twelve,true,{}", "credits:integer", "is not an integer"),
        ("bad-bool,gold,1,yes,{}", "vip:boolean", "is not a boolean"),
        ('bad-json,gold,1,true,"{""tier"": }"', "profile:json", "is not valid JSON"),
        ("short-row,gold,1", "", "has 3 cells; the header has 5"),
        ("nothing,,,,", "userID", "nothing to set"),
    ],
)
def test_it_reports_each_bad_row_with_its_line_and_column(
    ops_client, environment, sandbox, sandbox_project, row, column, message_part
):
    content = "\n".join([HEADER, "good-1,gold,1,true,{}", row, "good-2,silver,2,false,[]"]).encode()
    job = uploaded_job(ops_client, environment, content)

    assert job.status == BulkJob.Status.DRAFT
    [(line, reported_column, message)] = problems_of(job)
    assert (line, reported_column) == (3, column)
    assert message_part in message
    assert job.validation_report["bad_rows"] == 1
    assert sorted(job.items.values_list("user_id", flat=True)) == ["good-1", "good-2"]
    assert nothing_sent(sandbox, sandbox_project)


def test_it_names_the_value_that_does_not_fit(ops_client, environment):
    job = uploaded_job(
        ops_client, environment, f"{HEADER}\nu0,gold,1,true,{{}}\nu1,gold,12.5,true,{{}}\n".encode()
    )

    [problem] = job.validation_report["problems"]
    assert problem["value"] == "12.5"
    page = ops_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "12.5 is not an integer (credits:integer)." in page


def test_it_reports_both_lines_of_a_duplicate_userid_and_runs_neither(
    ops_client, environment, sandbox, sandbox_project
):
    content = "\n".join(
        [HEADER, "dup,gold,1,true,{}", "other,gold,1,true,{}", "dup,silver,2,false,{}"]
    ).encode()
    job = uploaded_job(ops_client, environment, content)

    assert problems_of(job) == [
        (2, "userID", "This userID appears again on line 4; neither line runs."),
        (
            4,
            "userID",
            "Duplicate userID: it is already on line 2. Neither line runs until the file names each userID once.",
        ),
    ]
    assert list(job.items.values_list("user_id", flat=True)) == ["other"]
    assert nothing_sent(sandbox, sandbox_project)


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        (b"", "The file is empty"),
        (HEADER.encode() + b"\n", "has a header but no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "This is a PNG image, not a text file"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "This is a JPEG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "This is a PDF document"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00", "This is a ZIP archive (an Excel .xlsx"),
        (b"\x00\x01\x02\x03binary", "not a text file"),
        (b'{"userID": "a", "variables": {"x": 1}}\n', "There is no userID column"),
        (b"user,plan:string\nu1,gold\n", "There is no userID column"),
        (b"userID,plan:colour\nu1,gold\n", "Unknown type 'colour' in column 2"),
        (b"userID,plan\nu1,gold\n", "(e.g. plan:string), or give the types in a type row"),
        (b"userID,plan\n#types,colour\nu1,gold\n", "Unknown type 'colour' in column 2 of the type"),
        (b"userID,plan:string,plan:integer\nu1,gold,1\n", "has two columns"),
        (b"userID\nu1\n", "no variable column"),
    ],
)
def test_it_refuses_a_file_that_cannot_be_read_as_a_whole_on_the_form(
    ops_client, environment, sandbox, sandbox_project, content, message_part
):
    response = upload(ops_client, environment, content)

    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert message_part in page
    assert 'id="job-form-error"' in page
    assert not BulkJob.objects.exists()
    assert nothing_sent(sandbox, sandbox_project)


def test_a_file_whose_every_row_is_bad_is_refused_on_the_form_with_its_problems(
    ops_client, environment
):
    content = f"{HEADER}\nu1,gold,many,true,{{}}\n".encode()

    response = upload(ops_client, environment, content, name="campaign.csv")

    assert response.status_code == 400
    page = response.content.decode()
    assert "No row of campaign.csv can run: 1 row has problems." in page
    assert "many is not an integer (credits:integer)." in page
    assert not BulkJob.objects.exists()


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"], ids=lambda e: e
)
def test_it_reads_utf16_and_utf8_with_a_byte_order_mark(ops_client, environment, encoding):
    text = f"{HEADER}\r\nmarie-é,crème,3,true,{{}}\r\nzoë,gold,4,false,[]\r\n"

    job = uploaded_job(ops_client, environment, text.encode(encoding))

    assert job.validation_report["bad_rows"] == 0
    assert dict(job.items.values_list("user_id", "variables")) == {
        "marie-é": {"plan": "crème", "credits": 3, "vip": True, "profile": {}},
        "zoë": {"plan": "gold", "credits": 4, "vip": False, "profile": []},
    }


def test_a_draft_says_1_row_has_problems_in_the_singular(ops_client, environment):
    job = uploaded_job(
        ops_client, environment, f"{HEADER}\nu1,gold,1,true,{{}}\nu2,gold,x,true,{{}}\n".encode()
    )

    page = ops_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "1</strong> row can run" in page
    assert "1</strong> row has problems and will not run" in page
    assert "Run the 1 valid row only (the 1 row with problems is left out)" in page


def test_it_reports_the_lines_that_are_not_utf8(ops_client, environment, sandbox, sandbox_project):
    content = f"{HEADER}\nu1,gold,1,true,{{}}\n".encode() + "u2,café,1,true,{}\n".encode("latin-1")
    job = uploaded_job(ops_client, environment, content)

    [(line, _, message)] = problems_of(job)
    assert line == 3
    assert "is not UTF-8 text (byte 0xe9" in message
    assert list(job.items.values_list("user_id", flat=True)) == ["u1"]
    assert nothing_sent(sandbox, sandbox_project)


@pytest.mark.parametrize(
    ("line", "message_part"),
    [
        ('{"userID": "a", "variables": {"x": 1}', "not valid JSON"),
        ('["a", {"x": 1}]', "must be a JSON object"),
        ('{"userID": 42, "variables": {"x": 1}}', "userID must be text"),
        ('{"userID": "a", "variables": []}', "variables must be a JSON object"),
        ('{"userID": "a", "variables": {}}', "variables is empty"),
        ('{"userID": "a", "vars": {"x": 1}}', "Unknown key 'vars'"),
    ],
)
def test_it_reports_bad_json_lines(
    ops_client, environment, sandbox, sandbox_project, line, message_part
):
    content = "\n".join(['{"userID": "ok", "variables": {"n": 1}}', line, ""]).encode()
    job = uploaded_job(ops_client, environment, content, fmt="jsonl", name="input.jsonl")

    [(reported_line, _, message)] = problems_of(job)
    assert reported_line == 2
    assert message_part in message
    assert list(job.items.values_list("user_id", "variables")) == [("ok", {"n": 1})]
    assert nothing_sent(sandbox, sandbox_project)


def test_a_clean_file_keeps_each_value_with_its_declared_type(ops_client, environment):
    content = (
        b"userID,name:string,age:integer,score:number,ok:boolean,gone:null,tags:json,zip:string\n"
        b'u1,Ann,42,4.5,TRUE,null,"[""a"", 1]",00123\n'
        b"u2,,7,-1e3,false,,{},\n"
    )
    job = uploaded_job(ops_client, environment, content)

    assert job.validation_report["bad_rows"] == 0
    assert dict(job.items.values_list("user_id", "variables")) == {
        "u1": {
            "name": "Ann",
            "age": 42,
            "score": 4.5,
            "ok": True,
            "gone": None,
            "tags": ["a", 1],
            "zip": "00123",
        },
        "u2": {"age": 7, "score": -1000.0, "ok": False, "tags": {}},
    }


def test_a_draft_with_bad_rows_runs_only_when_the_operator_chooses_the_valid_rows(ops, environment):
    job = bulk.create_job_from_upload(
        environment,
        ops,
        kind=BulkJob.Kind.PRELOAD,
        source_format=bulk.Format.CSV,
        binary=io.BytesIO(f"{HEADER}\nu1,gold,1,true,{{}}\nu2,gold,x,true,{{}}\n".encode()),
    )

    with pytest.raises(bulk.JobStateError, match=r"1 row has problems.*the 1 valid row only"):
        bulk.start_job(job, ops)
    job.refresh_from_db()
    assert job.status == BulkJob.Status.DRAFT

    bulk.start_job(job, ops, skip_bad_rows=True)
    assert job.status == BulkJob.Status.QUEUED
    assert list(job.items.values_list("user_id", "status")) == [("u1", BulkItem.Status.PENDING)]


def test_a_production_job_needs_an_explicit_confirmation(ops, production_environment):
    job = bulk.create_job_from_text(
        production_environment, ops, kind=BulkJob.Kind.RESET, text="u1\nu2\n"
    )

    with pytest.raises(bulk.JobStateError, match="production"):
        bulk.start_job(job, ops)
    bulk.start_job(job, ops, confirmed_production=True)
    assert job.status == BulkJob.Status.QUEUED


def test_a_pasted_list_with_variables_reports_bad_userids_by_line(
    ops_client, environment, sandbox, sandbox_project
):
    response = ops_client.post(
        reverse("job_new"),
        {
            "mode": "list",
            "environment": environment.pk,
            "variables": '{"campaign": "spring"}',
            "user_ids": "userID\nalpha\n" + "x" * 14_337 + "\nbeta\n",
        },
    )
    job = checked(response)

    assert [(line, column) for line, column, _ in problems_of(job)] == [(3, "userID")]
    assert dict(job.items.values_list("user_id", "variables")) == {
        "alpha": {"campaign": "spring"},
        "beta": {"campaign": "spring"},
    }
    assert nothing_sent(sandbox, sandbox_project)


def test_it_refuses_variables_that_are_not_a_json_object(ops_client, environment):
    response = ops_client.post(
        reverse("job_new"),
        {
            "mode": "list",
            "environment": environment.pk,
            "variables": '{"campaign": ',
            "user_ids": "alpha\n",
        },
    )

    assert response.status_code == 400
    assert "The variables are not valid JSON" in response.content.decode()
    assert not BulkJob.objects.exists()
