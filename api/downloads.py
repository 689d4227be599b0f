"""A stored document as the HTTP answer that downloads it, for the API and the pages alike."""

from fastapi.responses import FileResponse

from partnerflow.steps import DocumentFile


def download(document: DocumentFile) -> FileResponse:
    # nosniff: a browser shows the file as its checked type says, never as what it guesses
    return FileResponse(
        document.path,
        media_type=document.content_type,
        filename=document.filename,
        headers={"X-Content-Type-Options": "nosniff"},
    )
