# One image for the API and the worker: `docker compose` runs either as a command of it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --create-home --uid 10001 partnerflow

COPY pyproject.toml README.md alembic.ini worker.py ./
COPY partnerflow partnerflow
COPY workflows workflows
COPY activities activities
COPY api api
COPY migrations migrations
RUN pip install . && mkdir -p /data/documents && chown -R partnerflow /data

USER partnerflow
ENV PARTNERFLOW_STORAGE_DIR=/data/documents
EXPOSE 8000 9464
# The API applies the migrations, then serves; `python worker.py` runs a worker instead.
CMD ["sh", "-c", "python -m partnerflow.migrate && uvicorn --factory api.main:create_app --host 0.0.0.0 --port 8000"]
