"""A CSV export as the HTTP answer that downloads it, for the API and the pages alike."""

from fastapi.responses import Response


def csv_response(text: str, filename: str, headers: dict[str, str] | None = None) -> Response:
    # nosniff: a browser never guesses the text is HTML; a BOM so spreadsheets read UTF-8
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        },
    )
