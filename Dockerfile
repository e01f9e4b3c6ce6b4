# syntax=docker/dockerfile:1
#
# bgremove service image. One Dockerfile, two variants picked by a build arg:
#   GPU (default): docker build -t bgremove:gpu .
#   CPU:           docker build --build-arg VARIANT=cpu -t bgremove:cpu .
# The repo's MODNet weights are baked in and checked against model/weights/SHA256SUMS. An image
# without them (GrabCut only) must be asked for: --build-arg REQUIRE_WEIGHTS=0.
#
# Stages: base-gpu | base-cpu  ->  builder (venv: dependency layer, then source)  ->  runtime
# (venv + weights only: no compiler, no pip cache, no source tree). Nothing is downloaded when the
# container starts: every file the service reads is in the image.

ARG VARIANT=gpu
# CUDA *runtime* flavour (no toolkit): torch's CUDA wheels bring their own cuDNN/cuBLAS, the base
# brings the CUDA user-space libraries the NVIDIA container runtime expects.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu22.04
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${CUDA_IMAGE} AS base-gpu
ARG DEBIAN_FRONTEND=noninteractive
# Python 3.11 from Ubuntu 22.04 (universe). Versions are not pinned: the base image tag is the pin,
# and exact apt versions disappear from the archive with every security update (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3.11 /usr/local/bin/python

FROM ${PYTHON_IMAGE} AS base-cpu

# ---------------------------------------------------------------------------------------------------
# The base is a stage of this file picked by VARIANT, not a registry image: nothing to tag (DL3006).
# hadolint ignore=DL3006
FROM base-${VARIANT} AS builder
ARG VARIANT
# Keep in step with the Makefile's pin (tests/deploy/test_dockerfile.py checks it).
ARG TORCH_VERSION=2.13.0
ARG TORCH_CUDA_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG TORCH_CPU_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG REQUIRE_WEIGHTS=1
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependency layer: only the files that decide dependencies, so editing the source reuses it.
# The same two steps as the Makefile's install (torch pinned first, then the project), without the
# dev extra and not editable. There is no source yet, so `pip install .` installs exactly the
# project's dependency closure (and an empty bgremove, replaced below).
COPY pyproject.toml README.md ./
RUN if [ "$VARIANT" = gpu ]; then torch_index="$TORCH_CUDA_INDEX_URL"; else torch_index="$TORCH_CPU_INDEX_URL"; fi \
    && python -m pip install --no-cache-dir --index-url "$torch_index" "torch==${TORCH_VERSION}" \
    && python -m pip install --no-cache-dir .

# Source layer (.dockerignore lets in only the packages, the weights and the checksum script).
COPY . ./
RUN python -m pip install --no-cache-dir --no-deps --force-reinstall . \
    && python -c "import service.app, model" \
    && REQUIRE_WEIGHTS="$REQUIRE_WEIGHTS" sh deploy/scripts/verify_weights.sh model/weights \
    && mkdir -p /opt/bgremove/weights \
    && if [ -d model/weights ]; then cp -a model/weights/. /opt/bgremove/weights/; fi

# ---------------------------------------------------------------------------------------------------
# Same base stage as the builder, so the venv's interpreter path exists here too (DL3006 as above).
# hadolint ignore=DL3006
FROM base-${VARIANT} AS runtime
ARG VARIANT
LABEL org.opencontainers.image.title="bgremove" \
      org.opencontainers.image.description="Background-removal service: batched MODNet matting, GrabCut fallback" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 bgremove \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin bgremove

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/bgremove/weights /opt/bgremove/weights

# HOME and caches point at /tmp: the root filesystem may be mounted read-only (see deploy/k8s),
# and /tmp is the one writable mount (multipart uploads spill there too; numba compiles the imaging
# kernels into its cache there at start-up, ~2.5 s, before the service reports ready).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    NUMBA_CACHE_DIR=/tmp/.cache/numba \
    BGREMOVE_HOST=0.0.0.0 \
    BGREMOVE_PORT=8000 \
    BGREMOVE_WEIGHTS_PATH=/opt/bgremove/weights/modnet_people.safetensors \
    BGREMOVE_IMAGE_VARIANT=${VARIANT}

# An empty working directory: `python -m service` then imports the installed package, never a
# stray source tree.
WORKDIR /app
USER 10001:10001
EXPOSE 8000

# Ready = model loaded and warmed up. urlopen raises on 503, so the exit status is the verdict; no
# curl in the image. start-period covers model load + warm-up (Kubernetes uses its own probes).
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('BGREMOVE_PORT', '8000'), timeout=4)"]

# uvicorn drains on SIGTERM: stops accepting, finishes in-flight requests, then the lifespan drains
# the batch queue (bounded by BGREMOVE_DRAIN_TIMEOUT_S). The orchestrator's grace period must exceed
# that bound; see deploy/k8s/base/deployment.yaml and docker-compose.yml.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service"]
