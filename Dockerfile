# syntax=docker/dockerfile:1
# Dialroom's API and worker image; docker-compose.yaml runs both from it.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Code runs from /app (not the installed copy), so dialroom.paths finds agents/ and prompts/.
ENV PYTHONPATH=/app

WORKDIR /app

# Dependencies first, read from pyproject.toml: editing code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps .

# Non-root. Compose mounts named volumes on these folders, and a new volume takes the owner of
# the folder it is mounted on: worker-slots (file locks giving each worker replica its own
# HTTP port), recordings (RECORDINGS_DIR) and /data (the SQLite call history).
RUN useradd --create-home --uid 10001 dialroom \
    && mkdir -p /var/lib/dialroom/worker-slots /var/lib/dialroom/recordings /data \
    && chown dialroom:dialroom /var/lib/dialroom/worker-slots /var/lib/dialroom/recordings /data
USER dialroom

CMD ["python", "-m", "worker.main", "start"]
