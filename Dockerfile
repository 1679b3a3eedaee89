# Builds k8s-manage and runs it as the entrypoint:
#   docker build -t k8s-manage .
#   docker run --rm -v "$PWD/cfg:/cfg" k8s-manage validate -p /cfg
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin k8s-manage

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 openssh-client \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/k8s-manage /usr/local/bin/k8s-manage
ENTRYPOINT ["k8s-manage"]
