# Pegasus-Go build, test and lint entry points. See README.md.

GO      ?= go
MODULES := shared client-go metaserver replicaserver metaproxy collector admincli integration tools
PKGS    := $(addprefix ./,$(addsuffix /...,$(MODULES)))
# Packages named main anywhere in the workspace become binaries in bin/.
MAINS    = $(shell $(GO) list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' $(PKGS))
TESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: all build onebox test unit deps lint fmt vet staticcheck bench-micro bench bench-unit bench-dup robustness clean

STATICCHECK_VERSION := v0.8.2
STATICCHECK         := bin/tools/staticcheck

all: build

build:
	@mkdir -p bin
	$(GO) build -o bin/ $(MAINS)

## onebox: builds everything, then starts a local cluster in .onebox/ (1 meta server, 3 replica
## servers, local-directory store) and prints how to connect. Arguments for `onebox start` go in
## ONEBOX_ARGS, e.g. make onebox ONEBOX_ARGS="-m 2 --zk"; see docs/onebox.md.
ONEBOX_ARGS ?=
onebox: build
	bin/onebox start $(ONEBOX_ARGS)
	@echo
	@echo "Connect with the admincli line above; bin/onebox status lists the processes,"
	@echo "bin/onebox stop stops them (docs/onebox.md)."

## deps: installs what the tests need (Debian's zookeeper when root).
deps:
	@scripts/ensure-deps.sh

## test: the whole suite, unit and integration, as CI runs it.
test: deps bench-unit
	$(GO) test $(TESTFLAGS) $(PKGS)

## unit: the suite without the packages that need external processes.
unit: bench-unit
	PEGASUS_SKIP_EXTERNAL=1 $(GO) test $(TESTFLAGS) $(PKGS)

## bench-unit: the tests of the YCSB driver (tools/bench is its own module, outside go.work).
bench-unit:
	cd tools/bench && GOWORK=off $(GO) test $(TESTFLAGS) ./...
## robustness: a long robustness campaign against real processes (3 meta and 5 replica servers,
## a real ZooKeeper, every link behind a proxy): DURATION of fault rounds (default 10m), SEED to
## replay a schedule, SHAPE=metas/replicas/clients. Prints the summary; artifacts (nemesis log,
## history, visualisations, logs) go to ROBUSTNESS_ARTIFACTS or a kept temporary directory on
## failure. See docs/robustness.md. `make test` runs a short seeded campaign.
DURATION ?= 10m
SEED     ?=
SHAPE    ?= 3/5/12
robustness: deps
	ROBUSTNESS_DURATION=$(DURATION) ROBUSTNESS_SEED=$(SEED) ROBUSTNESS_SHAPE=$(SHAPE) \
		$(GO) test -count=1 -timeout 4h -v -run '^TestCampaign$$' ./integration/robustness/

## bench-micro: Go micro-benchmarks (codec, RPC echo, plog append, storage apply vs raw pebble)
## in one run, so their figures are comparable; see docs/benchmarks.md.
BENCHTIME ?= 1s
bench-micro:
	$(GO) test -run '^$$' -benchmem -benchtime $(BENCHTIME) -count 3 \
		-bench 'Codec|EchoParallel|Append|ApplySet|RawPebbleSet|SingleMember|Write' \
		./shared/protocol ./shared/rpc ./replicaserver/internal/plog ./replicaserver/internal/storage \
		./replicaserver/internal/replica/core ./replicaserver/internal/replica

## bench: peer benchmarks (tools/bench/run.sh): YCSB load, A, B, C (E on Pegasus-Go) against a
## 3-replica onebox in page-cache and fsync mode, a 3-member etcd, redis and in-process pebble,
## plus the RPC echo ceiling; prints the median table. BENCH_ARGS go to run.sh (--docs writes
## docs/benchmarks.md); BENCH_OPS, BENCH_SECONDS, BENCH_ROUNDS, BENCH_SYSTEMS, ... shorten it.
BENCH_ARGS ?=
bench:
	tools/bench/run.sh $(BENCH_ARGS)

## bench-dup: duplication lag between two onebox clusters at a sustained 1,000 and 5,000 writes/s
## (60 s each, about 3 minutes in all); rewrites its block in docs/benchmarks.md. Extra duplag
## flags go in DUPLAG_ARGS, e.g. DUPLAG_ARGS="--replica-setting replication.dup_sync_interval=500ms".
DUPLAG_ARGS ?=
bench-dup: build
	bin/duplag --doc docs/benchmarks.md --command-shown "make bench-dup$(if $(DUPLAG_ARGS), DUPLAG_ARGS='$(DUPLAG_ARGS)')" $(DUPLAG_ARGS)

lint: fmt vet staticcheck

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	cd tools/bench && GOWORK=off $(GO) vet ./...

$(STATICCHECK):
	GOBIN=$(CURDIR)/bin/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)

clean:
	rm -rf bin
