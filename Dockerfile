# syntax=docker/dockerfile:1
# Multi-stage build of antidoted: a Rust builder using the committed .sqlx/ query cache
# (no database needed at build time), then a small distroless runtime running as non-root.

FROM rust:1.94-bookworm AS builder
WORKDIR /src
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never
# Manifests first so that dependency builds stay cached while sources change.
COPY Cargo.toml Cargo.lock ./
COPY kubesim/Cargo.toml kubesim/Cargo.toml
COPY .cargo .cargo
COPY .sqlx .sqlx
COPY crates crates
COPY migrations migrations
COPY kubesim kubesim
COPY src src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin antidoted \
 && cp target/release/antidoted /antidoted

FROM gcr.io/distroless/cc-debian12:nonroot
# Curriculum import runs as `antidoted curriculum import`; the example curriculum ships
# for demos and smoke tests.
COPY --from=builder /antidoted /usr/local/bin/antidoted
COPY example-curriculum /usr/share/antidote/example-curriculum
USER 65532:65532
EXPOSE 8086
ENTRYPOINT ["/usr/local/bin/antidoted"]
CMD ["serve"]
