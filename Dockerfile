# syntax=docker/dockerfile:1
# The gateway image: a virtualenv built in one stage, copied into a slim runtime that runs as a
# non-root user. Build: `docker build -t llm-gateway .`  Run:
# `docker run -p 8080:8080 -e GATEWAY_ADMIN_KEY=... llm-gateway`, then create a key with
# `POST /v1/gateway/keys` (it listens on 0.0.0.0, so calls need a key; see README "Security").
# No config and no provider keys: the built-in simulator's models, a SQLite ledger in the volume.
# The same image runs every role: `serve` (default), `worker`, `migrate`, `keys`, `spend`.
# The build stage compiles the token counter (native/, a C extension), so it uses the full image
# (gcc, Python headers); the runtime stage stays slim. Same Python at the same path in both.
ARG BUILD_IMAGE=python:3.11-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${BUILD_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/gateway
WORKDIR /src
COPY pyproject.toml setup.py README.md alembic.ini ./
COPY native ./native
COPY migrations ./migrations
COPY gateway ./gateway
# The check runs outside /src, so it imports the installed package (with its compiled counter).
RUN /opt/gateway/bin/pip install . \
 && cd / && /opt/gateway/bin/python -c "import uvloop, httptools, gateway.app, gateway._bpe"

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway --create-home \
      --shell /usr/sbin/nologin gateway
COPY --from=build /opt/gateway /opt/gateway
# GATEWAY_* are the gateway's own settings (see README "Configuration"); the ledger spool and
# the SQLite default live in the working directory, a volume owned by the gateway user.
ENV PATH=/opt/gateway/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_DATABASE_URL=sqlite+aiosqlite:////var/lib/gateway/gateway.db
WORKDIR /var/lib/gateway
VOLUME ["/var/lib/gateway"]
USER 10001:10001
EXPOSE 8080
# SIGTERM: /readyz turns 503, new connections are refused, open calls get GATEWAY_SHUTDOWN_GRACE
# (30 s) to finish, then the ledger is flushed. Give `docker stop -t` / compose more than that.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GATEWAY_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["gateway"]
CMD ["serve"]
