# syntax=docker/dockerfile:1
# Batch jobs: credit-scoring data/features/train/compare/promote/promotion-hook, feast,
# python -m monitoring.drift, and the MLflow server.
# Build from the repository root: docker build -f docker/jobs.Dockerfile -t credit-scoring-jobs .
# Installs only the "training,monitoring,cli" extras, pinned by requirements/constraints.txt.
# Same base in both stages: the venv's interpreter path must exist at run time.
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY credit_scoring/ credit_scoring/
COPY feature_store/ feature_store/
COPY inference_log/ inference_log/
COPY training/ training/
COPY monitoring/ monitoring/
COPY governance/ governance/
COPY cli/ cli/
COPY promotion/ promotion/
# The command line names every command: batch-score's settings come from batch/ (it runs in the
# batch image).
COPY batch/ batch/
# A regular (non-editable) install: the runtime stage gets the venv and nothing of /src.
RUN /opt/venv/bin/pip install --constraint requirements/constraints.txt ".[training,monitoring,cli]"

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="credit-scoring-jobs" \
      org.opencontainers.image.source="https://github.com/credit-scoring/credit-scoring-platform" \
      org.opencontainers.image.licenses="Apache-2.0"
# git: the promotion hook clones the GitOps repository and pushes promotion branches.
RUN apt-get update && apt-get install -y --no-install-recommends git=1:2.39.* \
    && rm -rf /var/lib/apt/lists/*
# A fixed non-root UID/GID (the chart's podSecurity.runAsUser); no shell login, no home to write.
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --chown=root:root feature_repo/ /app/feature_repo/
# The demo's fairness exception (jobs.train.fairnessException in ci/kind-values.yaml); a lender mounts its own.
COPY --chown=root:root governance/exceptions/ /app/governance/exceptions/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    CREDIT_HOME=/var/lib/credit-scoring
WORKDIR /app
USER 10001:10001
