# syntax=docker/dockerfile:1
# The app image: `docker build -f Dockerfile.app .`
#
# Stages: chef (toolchain + cmake + cargo-chef) -> planner (dependency recipe from the
# manifests) -> builder (dependencies in their own layer, then the source; the frontend
# is embedded in the binary at this step) -> runtime (debian slim, the binary, non-root).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# This layer changes only when Cargo.toml or Cargo.lock do.
RUN cargo chef cook --release --locked -p app --recipe-path recipe.json
COPY . .
# The same command CI runs (the ops checks compare them).
RUN cargo build --release --locked -p app

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG SOURCE_URL=https://github.com/flotilla-lb/flotilla
ARG REVISION=unknown
LABEL org.opencontainers.image.title="flotilla-app" \
      org.opencontainers.image.description="Flotilla's app service: CSV dataset analysis with live updates" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}"
# curl is for HEALTHCHECK only; ca-certificates for TLS to a managed Postgres.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/flotilla --create-home \
       --shell /usr/sbin/nologin flotilla
COPY --from=builder /src/target/release/app /usr/local/bin/app
USER 10001:10001
# The working directory is writable, for the SQLite default when no DATABASE_URL is set.
WORKDIR /var/lib/flotilla
ENV APP_LISTEN=0.0.0.0:3000
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=2s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:3000/healthz"]
ENTRYPOINT ["/usr/local/bin/app"]
