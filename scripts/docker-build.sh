#!/usr/bin/env bash
# Builds the static roster binary and the FROM-scratch image (make docker).
#
#   scripts/docker-build.sh [TAG]     TAG defaults to $ROSTER_IMAGE or roster:dev
#
# The build context is a temporary directory holding only bin/roster, so the
# image builds offline and never ships the repository (or .git) to the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-${ROSTER_IMAGE:-roster:dev}}"
version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"

make -s build BIN=bin/roster

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin"
cp bin/roster "$ctx/bin/roster"

docker build --quiet \
  --label "org.opencontainers.image.title=roster" \
  --label "org.opencontainers.image.version=${version}" \
  -t "$tag" -f Dockerfile "$ctx" >/dev/null
echo "built image $tag (roster ${version}, $(du -h bin/roster | cut -f1) binary)"
