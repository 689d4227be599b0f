"""The web UI: server-rendered pages for staff under `/`, for partners under `/portal`."""
