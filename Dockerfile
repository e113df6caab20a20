# syntax=docker/dockerfile:1
# ekklesia-sync: one image holding member-producer, member-consumer, memberctl and
# firestore-emulator. The program is chosen by the compose `command:` or the
# Kubernetes `command:`; the image has no entrypoint script.
#
#   docker build -t ekklesia-sync .
#   docker run --rm ekklesia-sync member-consumer --help

############################ build ############################
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      make gcc libc6-dev pkg-config \
      librdkafka-dev libpq-dev libjansson-dev libcurl4-openssl-dev \
      libconfig-dev libmicrohttpd-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY common/ common/
COPY services/ services/
COPY tools/ tools/
# `make bins`: the programs only (build/bin/*), neither the tests nor the sanitizer build.
RUN make -j"$(nproc)" bins \
 && test -x build/bin/member-producer -a -x build/bin/member-consumer \
      -a -x build/bin/memberctl -a -x build/bin/firestore-emulator

############################ runtime ############################
FROM debian:bookworm-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# Only the shared libraries the programs link (readelf -d build/bin/*), the CA
# bundle for TLS to Kafka, PostgreSQL and Google, and curl for compose healthchecks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libpq5 libjansson4 libcurl4 libconfig9 libmicrohttpd12 libssl3 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ekklesia \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin ekklesia
COPY --from=build /src/build/bin/member-producer /src/build/bin/member-consumer \
     /src/build/bin/memberctl /src/build/bin/firestore-emulator /usr/local/bin/
COPY config/ /etc/ekklesia/
LABEL org.opencontainers.image.title="ekklesia-sync" \
      org.opencontainers.image.description="PostgreSQL -> Kafka -> Firestore membership sync"
# Read-only root file system friendly: nothing is written outside /tmp (mount an
# emptyDir or tmpfs there).
USER 10001:10001
WORKDIR /tmp
EXPOSE 8081 8082
CMD ["member-consumer", "--help"]
