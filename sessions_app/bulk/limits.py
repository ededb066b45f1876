"""The documented size limits of bulk job inputs (README, Configuration): an upload of more than
BULK_UPLOAD_MAX_MB or more than BULK_MAX_ROWS rows is refused before anything is parsed or
stored, with a message that says which limit and how to stay within it."""

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

# A header line and a type row may come before the rows.
HEADER_LINES = 2


def _refuse_rows(rows: int) -> None:
    raise ValueError(
        f"The input has {rows:,} lines; a job takes at most {settings.BULK_MAX_ROWS:,} rows "
        "(BULK_MAX_ROWS). Split it into several jobs."
    )


def check_upload(upload: UploadedFile) -> None:
    """Refuse an uploaded job input over the size or row limit; reads it once, then rewinds."""
    limit_bytes = settings.BULK_UPLOAD_MAX_MB * 1024 * 1024
    if upload.size > limit_bytes:
        raise ValueError(
            f"The file is {upload.size / 1024 / 1024:.1f} MB; a job's input is at most "
            f"{settings.BULK_UPLOAD_MAX_MB} MB (BULK_UPLOAD_MAX_MB). Split it into several jobs."
        )
    lines = 0
    last = b"\n"
    for chunk in upload.chunks():
        lines += chunk.count(b"\n")
        last = chunk[-1:] or last
    lines += last != b"\n"  # a last line without its line break
    upload.seek(0)
    if lines > settings.BULK_MAX_ROWS + HEADER_LINES:
        _refuse_rows(lines)


def check_pasted(text: str) -> None:
    """The same row limit for a pasted list of userIDs."""
    lines = len(text.splitlines())
    if lines > settings.BULK_MAX_ROWS:
        _refuse_rows(lines)
