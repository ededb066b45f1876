"""A CSV preload whose header holds plain names and whose second line, the type row, holds the
types: read like the `name:type` file it stands for, refused whole when the type row is wrong."""

import io

import pytest
from bulk_support import preload_from_csv, wait_until_finished

from sessions_app import bulk
from sessions_app.bulk.parsing import Problem, Row, read_csv

TYPED_HEADER = "userID,plan:string,code:string,credits:integer,ratio:x:number,vip:boolean,gone:null,profile:json"
PLAIN_HEADER = "userID,plan,code,credits,ratio:x,vip,gone,profile"
TYPE_ROW = "#types , string,STRING,Integer , number,boolean,null,json"
DATA = [
    'u1,gold,5,3,0.5,TRUE,null,"{""tier"": 2}"',
    "u2,,00123,-7,4,false,,[]",
]


def read(*lines: str) -> list[Row | Problem]:
    return list(read_csv(io.BytesIO(("\n".join(lines) + "\n").encode())))


def test_a_type_row_reads_the_same_rows_as_typed_headers():
    with_type_row = read(PLAIN_HEADER, TYPE_ROW, *DATA)
    with_typed_header = read(TYPED_HEADER, *DATA)

    assert [(row.line, row.user_id, row.variables) for row in with_type_row] == [
        (
            3,
            "u1",
            {
                "plan": "gold",
                "code": "5",
                "credits": 3,
                "ratio:x": 0.5,
                "vip": True,
                "gone": None,
                "profile": {"tier": 2},
            },
        ),
        (4, "u2", {"code": "00123", "credits": -7, "ratio:x": 4, "vip": False, "profile": []}),
    ]
    assert [(row.user_id, row.variables) for row in with_type_row] == [
        (row.user_id, row.variables) for row in with_typed_header
    ]
    u1, u2 = with_type_row
    assert type(u1.variables["credits"]) is int and type(u2.variables["ratio:x"]) is int


@pytest.mark.parametrize(
    ("lines", "line", "column", "message_part"),
    [
        (
            ["userID,plan,credits", "#types,string"],
            2,
            "",
            "The type row has 2 cells; the header has 3",
        ),
        (["userID,plan,credits", "#types,string,integer,json"], 2, "", "The type row has 4 cells"),
        (
            ["userID,plan,credits", "#types, ,integer"],
            2,
            "plan",
            "Column 2 has no type in the type row",
        ),
        (
            ["userID,plan,credits", "#types,string,int"],
            2,
            "credits",
            "Unknown type 'int' in column 3 of the type row",
        ),
        (
            ["userID,plan:string,credits", "#types,string,integer"],
            1,
            "plan:string",
            "Give the types one way: either name:type in the header or a type row",
        ),
    ],
)
def test_a_bad_type_row_stops_the_reading_at_its_line_and_column(lines, line, column, message_part):
    content = ("\n".join(lines) + "\n").encode()
    binary = io.BytesIO(content + b"u1,gold,twelve\n")

    [problem] = read_csv(binary)

    assert (problem.line, problem.column, problem.fatal) == (line, column, True)
    assert message_part in problem.message
    assert binary.tell() == len(content)  # the data row after it was never read


def test_a_type_row_that_is_not_utf8_stops_the_reading():
    binary = io.BytesIO(b"userID,plan\n#types,str\xe9ng\nu1,gold\n")

    [problem] = read_csv(binary)

    assert (problem.line, problem.fatal) == (2, True)
    assert "Line 2 is not UTF-8 text" in problem.message


def test_a_problem_in_the_first_data_row_after_a_type_row_names_line_3():
    [problem, row] = read("userID,plan,credits", "#types,string,integer", "u1,gold,x", "u2,gold,2")

    assert (problem.line, problem.column) == (3, "credits:integer")
    assert "is not an integer" in problem.message
    assert (row.line, row.variables) == (4, {"plan": "gold", "credits": 2})


def test_without_a_type_row_the_second_line_is_the_first_data_row():
    [problem, row] = read("userID,plan:string", ",gold", "types,silver")

    assert (problem.line, problem.column) == (2, "userID")
    assert (row.line, row.user_id, row.variables) == (3, "types", {"plan": "silver"})


@pytest.mark.worker
def test_a_type_row_preload_reaches_voiceflow_with_its_types(
    celery_worker, sandbox, sandbox_project, environment, ops
):
    job = preload_from_csv(environment, ops, PLAIN_HEADER, TYPE_ROW, *DATA)
    assert job.validation_report["problems"] == []

    bulk.start_job(job, ops)
    progress = wait_until_finished(job)

    assert (progress["status"], progress["done"]) == ("completed", 2)
    u1 = sandbox.state(sandbox_project["project_id"], "u1")["variables"]
    assert u1 == {
        "plan": "gold",
        "code": "5",
        "credits": 3,
        "ratio:x": 0.5,
        "vip": True,
        "gone": None,
        "profile": {"tier": 2},
    }
    assert type(u1["credits"]) is int
