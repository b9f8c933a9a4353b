# gpufleet's service in a container (docs/service.md, "In a container"). With PostgreSQL:
#   GPUFLEET_DB_PASSWORD=... docker compose up --build
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install --no-cache-dir '.[service]' \
    && useradd --system --uid 10001 --home-dir /app gpufleet
USER gpufleet

EXPOSE 8000
# /healthz: the process answers (service/routes/ops.py); /readyz also checks the database
HEALTHCHECK --interval=30s --timeout=5s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# the database is GPUFLEET_DATABASE_URL (compose.yaml sets it); the schema is upgraded at start
CMD ["gpufleet", "serve", "--host", "0.0.0.0", "--port", "8000"]
