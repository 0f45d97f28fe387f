# Partita — the two commands of the README:
#   make run    set up what is missing, build, and start `partita dev`
#   make test   every test: unit, integration (embedded NATS, real MinIO, ONNX Runtime), end to end

SHELL := /bin/bash
TOOLS ?= $(CURDIR)/tools
BIN := $(CURDIR)/bin
GO ?= go
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO := $(TOOLS)/bin/minio

include mk/stamp.mk
include mk/onnxruntime.mk
include mk/duckdb.mk
include mk/helm.mk
include mk/image.mk
include mk/kube.mk

# Every module of the workspace (go.work).
MODULES := . deploy/charttest deploy/image libs services/aggregator services/gateway services/ingest services/optimizer \
	services/scorer services/splitter services/webhooks
PKGS := $(foreach m,$(MODULES),./$(m)/...)

export PARTITA_MINIO_BIN := $(MINIO)
export PARTITA_ORT_LIB := $(ORT_LIB)
export PARTITA_DUCKDB := $(DUCKDB_DIR)
export PARTITA_HELM := $(HELM)
export PARTITA_KEDA_CRD := $(KEDA_CRD)
export PARTITA_KUBE_APISERVER := $(KUBE_APISERVER)
export PARTITA_KUBE_CONTROLLER_MANAGER := $(KUBE_CONTROLLER_MANAGER)
export PARTITA_KUBE_SCHEDULER := $(KUBE_SCHEDULER)
export PARTITA_KUBECTL := $(KUBECTL)
export PARTITA_KWOK := $(KWOK)
export PARTITA_KWOK_STAGES := $(KWOK_STAGES)
export PARTITA_ETCD := $(ETCD)
export PARTITA_SERVICEMONITOR_CRD := $(SERVICEMONITOR_CRD)

.PHONY: run build test tools python-deps bench chaos vet fmt clean tidy tidy-check

run: onnxruntime build
	$(BIN)/partita dev

# The version `partita version` and partita_build_info show.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
VERSION_LDFLAGS = -X github.com/partita/partita/libs/buildinfo.Version=$(VERSION)

build:
	$(GO) build -ldflags='$(VERSION_LDFLAGS)' -o $(BIN)/partita ./cmd/partita

tools: $(MINIO) onnxruntime duckdb python-deps helm keda-crd image-deps kube-tools

# Debian's CVXOPT and SciPy for the solver comparisons (bench plan and
# optimizer, their tests): installed with apt-get when missing.
python-deps:
	@/usr/bin/python3 -c 'import cvxopt, scipy' 2>/dev/null || { \
	  echo "installing python3-cvxopt and python3-scipy (apt-get)"; \
	  apt-get update -qq && apt-get install -y -qq python3-cvxopt python3-scipy; }

$(TOOLS)/minio.version: FORCE
	$(call tool-stamp,$(MINIO_VERSION),$(call go-built,$(MINIO),github.com/minio/minio,$(MINIO_VERSION)))

$(MINIO): $(TOOLS)/minio.version
	@echo "building MinIO $(MINIO_VERSION) into $(TOOLS)/bin (a few minutes, once per version)"
	@mkdir -p $(TOOLS)/bin
	cd $(TOOLS) && GOBIN=$(TOOLS)/bin $(GO) install github.com/minio/minio@$(MINIO_VERSION)
	@touch $@

test: tools tidy-check
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 30m $(PKGS)

bench: tools build
	$(BIN)/partita bench all --runs 3 --minutes 10 --out docs/benchmarks.md

# The fault-injection suite (docs/operations.md): RUNS fault runs on one
# NATS node and RUNS on a cluster of three, faults chosen by SEED.
SEED ?= 1
RUNS ?= 50
chaos: tools build
	$(BIN)/partita chaos --seed $(SEED) --runs $(RUNS) --out docs/chaos.md

# Every module's go.mod and go.sum must be what `go mod tidy` makes of them,
# and mk/kube's (not a workspace module: its tool block keeps the modules
# mk/kube.mk builds from).
TIDY_MODULES := $(MODULES) mk/kube
tidy-check:
	@set -e; for m in $(TIDY_MODULES); do \
	  (cd $$m && GOWORK=off $(GO) mod tidy -diff >/dev/null) || { echo "module $$m is not tidy: run make tidy" >&2; exit 1; }; \
	done

tidy:
	@set -e; for m in $(TIDY_MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy); done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) .partita
