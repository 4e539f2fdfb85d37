# syntax=docker/dockerfile:1
# python -m transformer: the public credit-scoring endpoint (validation, Feast features, answers).
# Build from the repository root: docker build -f docker/transformer.Dockerfile -t credit-scoring-transformer .
# Installs only the "transformer" extra, pinned by requirements/constraints.txt.
# Same base in both stages: the venv's interpreter path must exist at run time.
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY credit_scoring/ credit_scoring/
COPY serving/ serving/
COPY transformer/ transformer/
COPY feature_store/ feature_store/
COPY inference_log/ inference_log/
# A regular (non-editable) install: the runtime stage gets the venv and nothing of /src.
RUN /opt/venv/bin/pip install --constraint requirements/constraints.txt ".[transformer]"

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="credit-scoring-transformer" \
      org.opencontainers.image.source="https://github.com/credit-scoring/credit-scoring-platform" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed non-root UID/GID (the chart's podSecurity.runAsUser); no shell login, no home to write.
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --chown=root:root feature_repo/ /app/feature_repo/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    CREDIT_HOME=/var/lib/credit-scoring
WORKDIR /app
USER 10001:10001
