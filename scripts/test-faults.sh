#!/usr/bin/env bash
# Runs the fault suite (make test-faults): builds the static binary and the
# FROM-scratch image, then runs the Go tests in faults/ (build tag `faults`)
# against containers on private Docker networks that the tests create.
#
#   scripts/test-faults.sh [go test flags...]   e.g. -run 'TestPaused' -count=1
#
# Environment: ROSTER_IMAGE (default roster:dev), ROSTER_FAULTS_ARTIFACTS
# (where a non-linearizable history's porcupine visualization is written;
# default $TMPDIR). Each run labels what it creates with
# roster.faults.run=<id>; the tests remove their containers and networks in
# t.Cleanup, and this script removes whatever a run killed by its timeout
# left behind (only that run's, found by the label).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  echo "test-faults: no Docker engine answers; the fault suite needs one (see docs/operations.md, \"Fault tests\")." >&2
  exit 1
fi

export ROSTER_IMAGE="${ROSTER_IMAGE:-roster:dev}"
export ROSTER_FAULTS_RUN="${ROSTER_FAULTS_RUN:-$(date +%s | tail -c 7)$$}"

cleanup() {
  local ids
  ids="$(docker ps -aq --filter "label=roster.faults.run=${ROSTER_FAULTS_RUN}")"
  if [ -n "$ids" ]; then
    echo "test-faults: removing leftover containers of run ${ROSTER_FAULTS_RUN}" >&2
    docker rm -f -v $ids >/dev/null || true
  fi
  ids="$(docker network ls -q --filter "label=roster.faults.run=${ROSTER_FAULTS_RUN}")"
  if [ -n "$ids" ]; then
    docker network rm $ids >/dev/null || true
  fi
}
trap cleanup EXIT

./scripts/docker-build.sh "$ROSTER_IMAGE"
go test -tags faults -count=1 -v -timeout 30m "$@" ./faults/
