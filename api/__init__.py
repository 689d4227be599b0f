"""The HTTP API: FastAPI routes over the database and the Temporal client."""
