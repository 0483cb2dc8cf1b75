# Roster's tasks. `make run` starts a dev server; `make test` runs every test
# with the race detector, as CI does.
GO      ?= go
BIN     ?= bin/roster
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test test-short lint fuzz bench bench-http bench-dns docker test-faults clean

build: ## the static binary in bin/roster
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/roster

run: ## a single in-memory dev server on the default ports
	$(GO) run ./cmd/roster server --dev

test: ## every test, with the race detector
	$(GO) test -race -count=1 -timeout 20m ./...
	cd compat && $(GO) test -race -count=1 -timeout 20m ./... # Consul client, consul-template, Prometheus (own module: heavy deps)
	cd uitest && $(GO) test -race -count=1 -timeout 5m ./...

test-short:
	$(GO) test -count=1 -short ./...

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd uitest && $(GO) vet ./...

fuzz: ## a short run of every fuzz target (execution counts, not durations: Go 1.26's -fuzztime=Ns can fail with a spurious "context deadline exceeded", golang/go#75804)
	$(GO) test -run='^$$' -fuzz=FuzzServeDNS -fuzztime=100000x ./dnsapi
	$(GO) test -run='^$$' -fuzz=FuzzApplyCommand -fuzztime=100000x ./registry
	$(GO) test -run='^$$' -fuzz=FuzzRestoreSnapshot -fuzztime=100000x ./registry
	$(GO) test -run='^$$' -fuzz=FuzzBackupDecode -fuzztime=30000x ./raftstore
	$(GO) test -run='^$$' -fuzz=FuzzGossipMeta -fuzztime=10000x ./raftstore
	$(GO) test -run='^$$' -fuzz=FuzzWriteBodies -fuzztime=80000x ./httpapi
	$(GO) test -run='^$$' -fuzz=FuzzListQuery -fuzztime=100000x ./httpapi
	$(GO) test -run='^$$' -fuzz=FuzzStrictDecodeIsStricter -fuzztime=80000x ./httpapi
	$(GO) test -run='^$$' -fuzz=FuzzForwardBatchWire -fuzztime=100000x ./httpapi

bench: ## Go benchmarks (never timed tests in CI)
	$(GO) test -run='^$$' -bench=. -benchmem ./...

docker: ## a FROM-scratch image roster:dev built from the static binary
	./scripts/docker-build.sh

test-faults: ## the fault suite against containers (needs Docker)
	./scripts/test-faults.sh

clean:
	rm -rf bin roster-data
