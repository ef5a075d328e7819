# One image with the five Hermes functions: hermes-ingest, hermes-counters,
# hermes-dashboard, hermes-notify and hermes-enrich in /usr/local/bin. Terraform sets each
# Cloud Run service's command; run one locally with e.g.
#   docker run -p 8080:8080 -e HERMES_CONFIG_TOML="$(cat examples/hermes.toml)" \
#     -e HERMES_HASH_KEY="$(openssl rand -hex 32)" IMAGE /usr/local/bin/hermes-ingest

# --- build: Debian bookworm (glibc 2.36; the binaries need >= 2.34) ------------
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
        -p hermes-ingest -p hermes-counters -p hermes-dashboard -p hermes-notify -p hermes-enrich \
 && install -D -m 0755 -t /out \
        target/release/hermes-ingest \
        target/release/hermes-counters \
        target/release/hermes-dashboard \
        target/release/hermes-notify \
        target/release/hermes-enrich

# --- runtime: small, CA certificates for TLS, non-root --------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hermes \
 && useradd --system --uid 10001 --gid hermes --no-create-home --shell /usr/sbin/nologin hermes
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
ENV PORT=8080 RUST_LOG=info
EXPOSE 8080
CMD ["/usr/local/bin/hermes-ingest"]
