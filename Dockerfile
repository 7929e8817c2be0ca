# One image holds every Earshot binary; compose picks the service by command.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p earshot-listening -p earshot-case -p earshot-escalation -p earshot-insight -p earshot-cli \
 && mkdir -p /out \
 && cp target/release/earshot-listening target/release/earshot-case \
       target/release/earshot-escalation target/release/earshot-insight \
       target/release/earshot /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home earshot
COPY --from=build /out/ /usr/local/bin/
USER earshot
ENV EARSHOT_LOG_FORMAT=json
EXPOSE 50051 50052 50053 50054 9091 9092 9093 9094
CMD ["earshot-listening"]
