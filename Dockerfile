# Roster's container image: the static binary alone on an empty base, so the
# image is the size of the binary and builds offline (no base image to pull).
#
# Build it with `make docker` (scripts/docker-build.sh): that builds
# bin/roster with CGO_ENABLED=0 first and sends only the binary as the build
# context. `docker build -t roster:dev .` from the repository root also works
# once bin/roster exists.
FROM scratch

COPY bin/roster /roster

# scratch has no directories at all: WORKDIR creates /data, the data dir
# (Raft log and stable store, snapshots, the server's node-id). Mount a volume
# on it; never share one volume between two servers.
WORKDIR /data
VOLUME ["/data"]

# Defaults suited to a container: data in /data and the HTTP and DNS front
# ends on every interface. Raft and gossip keep the binary's loopback
# defaults, so `docker run roster:dev` is a working single server; a cluster
# passes --raft-addr, --gossip-addr and --advertise-addr with the container's
# own IP (see deploy/docker-compose.yml). Flags override these variables.
ENV ROSTER_DATA_DIR=/data \
    ROSTER_HTTP_ADDR=0.0.0.0:8500 \
    ROSTER_DNS_ADDR=0.0.0.0:8600

# 8500 HTTP API, 8600 DNS (UDP, and TCP for truncated answers),
# 8300 Raft, 8301 gossip (TCP and UDP).
EXPOSE 8500 8600/udp 8600/tcp 8300 8301 8301/udp

ENTRYPOINT ["/roster"]
CMD ["server"]
