"""Reading bulk input row by row: typed CSV, JSON Lines, and plain userID lists.

Every reader takes a binary file and yields `Row`s and `Problem`s as it goes, so a file of any
size is checked with constant memory. A `Problem` names the line, the column and the value; a
fatal one (empty file, binary content, no userID column, bad header or type row) ends the reading.
Duplicates across rows are the job builder's concern (`jobs.py`), not the readers'.
"""

import codecs
import csv
import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ..stored_json import UnsafeJSON, json_text, parse_input, printable
from ..voiceflow import InvalidUserID, validate_user_id

USER_ID_COLUMN = "userID"
TYPE_ROW_MARK = "#types"
TYPES = ("string", "number", "integer", "boolean", "null", "json")
VALUE_SHOWN_CHARS = 80
# A cell this large cannot be a variable Voiceflow accepts (its request body limit is 1 MB).
csv.field_size_limit(1024 * 1024)

_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_INTEGER = re.compile(r"-?(0|[1-9]\d*)")


@dataclass(frozen=True)
class Row:
    line: int
    user_id: str
    variables: dict | None = None


@dataclass(frozen=True)
class Problem:
    line: int | None
    message: str
    column: str = ""
    value: str = ""
    fatal: bool = False
    user_id: str = ""  # the row's userID when it could be read, for the job's results

    def as_dict(self) -> dict:
        return {
            "line": self.line,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }


def shown(value: Any) -> str:
    text = printable(value) if isinstance(value, str) else json_text(value)
    return text if len(text) <= VALUE_SHOWN_CHARS else text[:VALUE_SHOWN_CHARS] + "…"


def user_id_problem(user_id: Any) -> str | None:
    """Why a userID cannot be used, or None: the client's one rule (voiceflow/userids.py), with
    a file's missing cell and non-text value named as such. Spaces are kept, as written."""
    if not isinstance(user_id, str):
        return "userID must be text."
    if user_id == "":
        return "userID is missing."
    try:
        validate_user_id(user_id)
    except InvalidUserID as error:
        return error.message
    return None


# What a file that is not text most likely is, by its first bytes, for a message that names it.
_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"SQLite format 3\x00", "an SQLite database"),
)


def what_binary_is(head: bytes) -> str | None:
    """ "a PNG image" and the like, for content that is not text; None when it may be text."""
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def _utf16_byte_order(head: bytes) -> str | None:
    """The UTF-16 codec a file is written in (with or without its byte-order mark), or None."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    sample = head[:64]
    if len(sample) >= 4 and b"\x00" in sample:
        evens, odds = sample[0::2], sample[1::2]
        if not odds.strip(b"\x00") and evens.strip(b"\x00"):
            return "utf-16-le"
        if not evens.strip(b"\x00") and odds.strip(b"\x00"):
            return "utf-16-be"
    return None


def _utf16_lines(first: bytes, rest: Iterator[bytes], codec: str) -> Iterator[bytes]:
    """UTF-16 text re-encoded as UTF-8 lines (what spreadsheets save as "Unicode text")."""
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    pending = ""
    for chunk in itertools.chain([first], rest):
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield (line + "\n").encode()
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.encode()


class _Lines:
    """Decoded text lines of a binary file, remembering which lines were not UTF-8.

    UTF-8 (with or without the byte-order mark spreadsheet programs put first) and UTF-16 are
    read; a file that is not text ends the reading with a problem that says what it is.
    """

    def __init__(self, binary: IO[bytes] | Iterable[bytes]) -> None:
        self.binary = binary
        self.number = 0
        self.undecodable: dict[int, str] = {}
        self.fatal: Problem | None = None

    def _raw_lines(self) -> Iterator[bytes]:
        raw = iter(self.binary)
        first = next(raw, None)
        if first is None:
            return
        codec = _utf16_byte_order(first)
        if codec is None:
            yield first
            # Not `yield from`: closing this generator would close the caller's file with it.
            for line in raw:  # noqa: UP028
                yield line
            return
        # A UTF-16 "line" of the binary file ends inside a character (\n\x00): the decoder
        # takes the pieces as a stream, wherever they were cut.
        yield from _utf16_lines(first, raw, codec)

    def __iter__(self) -> Iterator[str]:
        for raw in self._raw_lines():
            self.number += 1
            if self.number == 1:
                kind = what_binary_is(raw)
                if kind is not None:
                    self.fatal = Problem(
                        1,
                        f"This is {kind}, not a text file: upload a CSV or JSON Lines file "
                        "(in a spreadsheet, save as CSV UTF-8).",
                        fatal=True,
                    )
                    return
            if b"\x00" in raw:
                self.fatal = Problem(
                    self.number,
                    "This is not a text file (it contains NUL bytes); upload a CSV or JSON Lines file.",
                    fatal=True,
                )
                return
            if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # the byte-order mark spreadsheet programs put first
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                self.undecodable[self.number] = (
                    f"Line {self.number} is not UTF-8 text (byte 0x{raw[error.start]:02x} at "
                    f"position {error.start + 1}). Save the file as UTF-8 and upload it again."
                )
                yield raw.decode("utf-8", errors="replace")


# ---- CSV: a userID column and one column per variable, typed `name:type` or by a type row ----


@dataclass(frozen=True)
class Column:
    name: str
    type: str


def parse_header(cells: list[str]) -> tuple[int, list[Column | None], list[Problem]]:
    """Position of userID, the typed variable columns (None at userID's place), problems."""
    problems: list[Problem] = []
    columns: list[Column | None] = []
    user_id_at = -1
    seen: set[str] = set()
    for position, raw in enumerate(cells, start=1):
        cell = raw.strip()
        if cell == USER_ID_COLUMN:
            if user_id_at >= 0:
                problems.append(
                    Problem(1, "The userID column appears twice.", column=cell, fatal=True)
                )
            user_id_at = position - 1
            columns.append(None)
            continue
        label = cell or f"column {position}"
        name, colon, type_name = cell.rpartition(":")
        if not colon:
            problems.append(
                Problem(
                    1,
                    f"Column {position} has no type. Write it as name:type, with type one of "
                    f"{', '.join(TYPES)} (e.g. {cell or 'plan'}:string), or give the types in a "
                    f"type row: a second line with {TYPE_ROW_MARK} in the userID column and each "
                    "column's type below its name.",
                    column=label,
                    value=shown(cell),
                    fatal=True,
                )
            )
            columns.append(None)
            continue
        name, type_name = name.strip(), type_name.strip().lower()
        if type_name not in TYPES:
            problems.append(
                Problem(
                    1,
                    f"Unknown type {type_name!r} in column {position}; the types are {', '.join(TYPES)}.",
                    column=label,
                    value=shown(cell),
                    fatal=True,
                )
            )
        if not name or any(ord(ch) < 32 for ch in name):
            problems.append(
                Problem(
                    1,
                    f"Column {position} needs a variable name before the colon.",
                    column=label,
                    fatal=True,
                )
            )
        elif name in seen:
            problems.append(
                Problem(1, f"The variable {name!r} has two columns.", column=label, fatal=True)
            )
        seen.add(name)
        columns.append(Column(name, type_name))
    if user_id_at < 0:
        found = ", ".join(shown(cell) for cell in cells[:6]) or "nothing"
        problems.insert(
            0,
            Problem(
                1,
                f"There is no userID column. The first line must be the header, with a column "
                f"named exactly {USER_ID_COLUMN} (found: {found}). Is this a CSV file?",
                fatal=True,
            ),
        )
    if user_id_at >= 0 and not any(columns):
        problems.append(
            Problem(
                1, "There is no variable column: add one name:type column per variable.", fatal=True
            )
        )
    return user_id_at, columns, problems


def typed_value(text: str, type_name: str) -> Any:
    """The value a cell stands for under its column's type; ValueError says why it does not fit."""
    if type_name == "string":
        return text
    if type_name == "integer":
        if not _INTEGER.fullmatch(text):
            raise ValueError("is not an integer")
        return int(text)
    if type_name == "number":
        if not _NUMBER.fullmatch(text):
            raise ValueError("is not a number (write it like 42, -3.5 or 1e6)")
        number = float(text)
        if math.isinf(number):
            raise ValueError("is too large a number")
        return int(text) if _INTEGER.fullmatch(text) else number
    if type_name == "boolean":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError("is not a boolean (write true or false)")
        return lowered == "true"
    if type_name == "null":
        if text != "null":
            raise ValueError(
                "is not null (write null, or leave the cell empty to leave the variable alone)"
            )
        return None
    try:
        return parse_input(text, "The cell")
    except UnsafeJSON as error:
        raise ValueError(
            f"is refused: {str(error).removeprefix('The cell is refused: ')}"
        ) from None
    except json.JSONDecodeError as error:
        raise ValueError(f"is not valid JSON ({error.msg} at character {error.pos + 1})") from None


def read_csv(binary: IO[bytes]) -> Iterator[Row | Problem]:
    lines = _Lines(binary)
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        yield Problem(1, f"The header line is not valid CSV ({error}).", fatal=True)
        return
    if lines.fatal is not None:
        yield lines.fatal
        return
    if header is None or not any(cell.strip() for cell in header):
        yield Problem(
            1 if header else None, "The file is empty: no header and no rows.", fatal=True
        )
        return
    if 1 in lines.undecodable:
        yield Problem(1, lines.undecodable[1], fatal=True)
        return
    records = _records(lines, reader, header_end=lines.number)
    names = [cell.strip() for cell in header]
    # The line after the header is read before the header is judged: only it can say whether the
    # header's plain names are typed below; when it is not a type row it is the first data row.
    second = next(records, None) if USER_ID_COLUMN in names else None
    if isinstance(second, _Record) and _is_type_row(second, names.index(USER_ID_COLUMN)):
        header, problems = _header_with_types(header, second)
        if problems:
            yield from problems
            return
        second = None
    user_id_at, columns, problems = parse_header(header)
    if problems:
        yield from problems
        return
    if second is not None:
        records = itertools.chain([second], records)
    rows_seen = 0
    for record in records:
        if isinstance(record, Problem):
            yield record
            return
        if record.not_utf8:
            yield Problem(record.line, record.not_utf8)
            continue
        if not any(cell.strip() for cell in record.cells):
            continue
        rows_seen += 1
        yield from _csv_row(record.line, record.cells, user_id_at, columns)
    if rows_seen == 0:
        yield Problem(None, "The file has a header but no rows.", fatal=True)


@dataclass(frozen=True)
class _Record:
    line: int  # where it starts: a quoted cell can hold line breaks
    cells: list[str]
    not_utf8: str = ""  # why, when one of its lines is not UTF-8 text


def _records(
    lines: _Lines, reader: Iterator[list[str]], header_end: int
) -> Iterator[_Record | Problem]:
    """The records after the header; a line that is not CSV or not text ends them, fatally."""
    last_line = header_end
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as error:
            yield Problem(lines.number, f"This line is not valid CSV ({error}).", fatal=True)
            return
        if lines.fatal is not None:
            yield lines.fatal
            return
        if cells is None:
            return
        first_line, last_line = last_line + 1, lines.number
        not_utf8 = [
            lines.undecodable[n] for n in range(first_line, last_line + 1) if n in lines.undecodable
        ]
        yield _Record(first_line, cells, not_utf8[0] if not_utf8 else "")


def _is_type_row(record: _Record, user_id_at: int) -> bool:
    return len(record.cells) > user_id_at and record.cells[user_id_at].strip() == TYPE_ROW_MARK


def _header_with_types(header: list[str], type_row: _Record) -> tuple[list[str], list[Problem]]:
    """The header written `name:type` from its plain names and the type row below, or problems.

    A header cell that already ends in `:type` is refused: which of the two types was meant is not
    for us to guess. Any other colon belongs to the name (`ratio:x` over `number`).
    """
    line = type_row.line
    if type_row.not_utf8:
        return header, [Problem(line, type_row.not_utf8, fatal=True)]
    if len(type_row.cells) != len(header):
        return header, [
            Problem(
                line,
                f"The type row has {len(type_row.cells)} cells; the header has {len(header)}. "
                f"Give one type below each variable column ({TYPE_ROW_MARK} below userID).",
                value=shown(",".join(type_row.cells)),
                fatal=True,
            )
        ]
    typed: list[str] = []
    problems: list[Problem] = []
    for position, (raw_name, raw_type) in enumerate(
        zip(header, type_row.cells, strict=True), start=1
    ):
        name, type_name = raw_name.strip(), raw_type.strip().lower()
        if name == USER_ID_COLUMN:
            typed.append(name)
            continue
        label = name or f"column {position}"
        _, colon, written_type = name.rpartition(":")
        if colon and written_type.strip().lower() in TYPES:
            problems.append(
                Problem(
                    1,
                    f"Column {position} is written name:type and the file also has a type row. "
                    "Give the types one way: either name:type in the header or a type row.",
                    column=label,
                    value=shown(name),
                    fatal=True,
                )
            )
        elif not type_name:
            problems.append(
                Problem(
                    line,
                    f"Column {position} has no type in the type row; the types are "
                    f"{', '.join(TYPES)}.",
                    column=label,
                    fatal=True,
                )
            )
        elif type_name not in TYPES:
            problems.append(
                Problem(
                    line,
                    f"Unknown type {type_name!r} in column {position} of the type row; the types "
                    f"are {', '.join(TYPES)}.",
                    column=label,
                    value=shown(raw_type),
                    fatal=True,
                )
            )
        typed.append(f"{name}:{type_name}")
    return typed, problems


def _csv_row(
    line: int, cells: list[str], user_id_at: int, columns: list[Column | None]
) -> Iterator[Row | Problem]:
    if len(cells) != len(columns):
        yield Problem(
            line,
            f"This row has {len(cells)} cells; the header has {len(columns)}.",
            value=shown(",".join(cells)),
        )
        return
    user_id = cells[user_id_at]
    problem = user_id_problem(user_id)
    if problem:
        yield Problem(line, problem, column=USER_ID_COLUMN, value=shown(user_id))
        return
    known = user_id
    variables: dict[str, Any] = {}
    bad = False
    for cell, column in zip(cells, columns, strict=True):
        if column is None or cell == "":
            continue  # an empty cell leaves that variable as it is
        try:
            variables[column.name] = typed_value(cell, column.type)
        except ValueError as error:
            bad = True
            yield Problem(
                line,
                f"{shown(cell)} {error} ({column.name}:{column.type}).",
                column=f"{column.name}:{column.type}",
                value=shown(cell),
                user_id=known,
            )
    if bad:
        return
    if not variables:
        yield Problem(
            line,
            "Every variable cell of this row is empty: there is nothing to set.",
            column=USER_ID_COLUMN,
            value=shown(user_id),
            user_id=known,
        )
        return
    yield Row(line, user_id, variables)


# ---- JSON Lines: {"userID": "…", "variables": {…}} per line ----


def read_jsonl(binary: IO[bytes]) -> Iterator[Row | Problem]:
    lines = _Lines(binary)
    rows_seen = 0
    for text in lines:
        number = lines.number
        if number in lines.undecodable:
            yield Problem(number, lines.undecodable[number])
            continue
        if not text.strip():
            continue
        rows_seen += 1
        try:
            record = parse_input(text, "This line")
        except UnsafeJSON as error:
            yield Problem(number, str(error))
            continue
        except json.JSONDecodeError as error:
            yield Problem(
                number,
                f"This line is not valid JSON ({error.msg} at character {error.pos + 1}).",
                value=shown(text.rstrip("\r\n")),
            )
            continue
        if not isinstance(record, dict):
            yield Problem(
                number,
                'Each line must be a JSON object like {"userID": "…", "variables": {…}}.',
                value=shown(text.rstrip("\r\n")),
            )
            continue
        unknown = sorted(set(record) - {"userID", "variables"})
        if unknown:
            yield Problem(
                number,
                f"Unknown key {unknown[0]!r}: a line holds only userID and variables.",
                column=unknown[0],
            )
            continue
        user_id = record.get("userID", "")
        problem = user_id_problem(user_id)
        if problem:
            yield Problem(number, problem, column="userID", value=shown(user_id))
            continue
        variables = record.get("variables")
        if not isinstance(variables, dict):
            yield Problem(
                number,
                "variables must be a JSON object of name → value.",
                column="variables",
                value=shown(variables),
                user_id=user_id,
            )
            continue
        if not variables:
            yield Problem(
                number,
                "variables is empty: there is nothing to set.",
                column="variables",
                value="{}",
                user_id=user_id,
            )
            continue
        yield Row(number, user_id, variables)
    if lines.fatal is not None:
        yield lines.fatal
    elif rows_seen == 0:
        yield Problem(None, "The file is empty: no lines to read.", fatal=True)


# ---- A list of userIDs, one a line (an optional first line `userID`) ----


def read_user_ids(binary: IO[bytes], variables: dict | None = None) -> Iterator[Row | Problem]:
    lines = _Lines(binary)
    rows_seen = 0
    for text in lines:
        number = lines.number
        if number in lines.undecodable:
            yield Problem(number, lines.undecodable[number])
            continue
        user_id = text.rstrip("\r\n")
        if not user_id.strip() or (number == 1 and user_id.strip() == USER_ID_COLUMN):
            continue
        rows_seen += 1
        problem = user_id_problem(user_id)
        if problem:
            yield Problem(number, problem, column="userID", value=shown(user_id))
            continue
        yield Row(number, user_id, variables)
    if lines.fatal is not None:
        yield lines.fatal
    elif rows_seen == 0:
        yield Problem(None, "The list is empty: give one userID a line.", fatal=True)


def text_lines_as_binary(text: str) -> Iterable[bytes]:
    """A pasted list read like an uploaded file."""
    return (line.encode() for line in text.splitlines(keepends=True))


def parse_variables_object(text: str) -> dict:
    """The JSON object of variables given once for a list of userIDs; ValueError says why not."""
    try:
        variables = parse_input(text, "The variables")
    except UnsafeJSON as error:
        raise ValueError(str(error)) from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"The variables are not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})."
        ) from None
    if not isinstance(variables, dict) or not variables:
        raise ValueError(
            'The variables must be a JSON object with at least one name, e.g. {"plan": "gold"}.'
        )
    return variables
