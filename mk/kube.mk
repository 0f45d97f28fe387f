# A real control plane for the chart's cluster tests (deploy/charttest,
# cluster_test.go): kube-apiserver, kube-controller-manager, kube-scheduler
# and kubectl of k8s.io/kubernetes, and kwok for fake nodes, built from the
# wrapper module mk/kube (not a module of the workspace) in ONE go build so
# the packages they share compile once; etcd from Debian's etcd-server
# package; the ServiceMonitor CRD from the prometheus-operator module's zip.
# Everything lands in $(TOOLS) (git-ignored) and is a no-op once there at
# the versions below: the binaries, etcd and kwok's stages have version
# stamps ($(TOOLS)/kube.version, etcd.version, kwok-stages.version;
# mk/stamp.mk), so a bump rebuilds them; binaries already built at these
# versions are judged by `go version -m` and kept.
#
#   make kube-tools     # all of it, if missing (17–25 min cold on 2 cores,
#                       # depending on what else runs; 34 s to relink from a
#                       # warm Go build cache)
#   PARTITA_KUBE_APISERVER, PARTITA_KUBE_CONTROLLER_MANAGER,
#   PARTITA_KUBE_SCHEDULER, PARTITA_KUBECTL, PARTITA_KWOK, PARTITA_ETCD,
#   PARTITA_KWOK_STAGES, PARTITA_SERVICEMONITOR_CRD
#                       # what the cluster tests run and read

TOOLS ?= $(CURDIR)/tools
GO ?= go
KUBE_VERSION := v1.37.2
# What mk/kube/go.mod builds: k8s.io/kubernetes must be KUBE_VERSION (the
# stamp's rule checks it), and kwok's version is read from it.
KUBE_GOMOD := $(CURDIR)/mk/kube/go.mod
KUBE_MOD_VERSION := $(shell sed -n 's/^[[:space:]]*k8s\.io\/kubernetes \(v[^ ]*\).*/\1/p' $(KUBE_GOMOD))
KWOK_VERSION := $(shell sed -n 's/^[[:space:]]*sigs\.k8s\.io\/kwok \(v[^ ]*\).*/\1/p' $(KUBE_GOMOD))
KUBE_BINS := kube-apiserver kube-controller-manager kube-scheduler kubectl kwok
# The version the binaries report (/version, kubectl version), as
# Kubernetes' hack/lib/version.sh sets it: without it v0.0.0-master, and
# helm refuses the chart's kubeVersion (>=1.30.0-0).
KUBE_VERSION_VARS := gitVersion=$(KUBE_VERSION) gitMajor=$(word 2,$(subst ., ,$(KUBE_VERSION:v%=x.%))) \
	gitMinor=$(word 3,$(subst ., ,$(KUBE_VERSION:v%=x.%))) gitTreeState=clean
KUBE_LDFLAGS := -s -w $(foreach v,$(KUBE_VERSION_VARS),-X k8s.io/component-base/version.$(v) -X k8s.io/client-go/pkg/version.$(v))
KUBE_APISERVER := $(TOOLS)/bin/kube-apiserver
KUBE_CONTROLLER_MANAGER := $(TOOLS)/bin/kube-controller-manager
KUBE_SCHEDULER := $(TOOLS)/bin/kube-scheduler
KUBECTL := $(TOOLS)/bin/kubectl
KWOK := $(TOOLS)/bin/kwok
ETCD_DEB_VERSION := 3.4.23-4+b4
ETCD_DIR := $(TOOLS)/etcd
ETCD := $(ETCD_DIR)/usr/bin/etcd
PROMETHEUS_OPERATOR_VERSION := v0.85.0
SERVICEMONITOR_CRD := $(TOOLS)/crds/prometheus-operator-$(PROMETHEUS_OPERATOR_VERSION)/monitoring.coreos.com_servicemonitors.yaml
# kwok's own stages (kustomize/stage of its module): nodes become Ready and
# keep their lease, pods become Running and Ready, deleted pods go away.
KWOK_STAGES := $(TOOLS)/kwok/stages.yaml
KWOK_STAGE_FILES := node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
	pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml
# apt-get download as root: without this apt warns that its _apt user
# cannot write the download folder.
KUBE_APT := apt-get -qq $(if $(filter 0,$(shell id -u)),-o APT::Sandbox::User=root)

.PHONY: kube-tools
kube-tools: $(KUBE_APISERVER) $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KUBECTL) $(KWOK) $(KWOK_STAGES) $(ETCD) $(SERVICEMONITOR_CRD)

# The binaries' stamp: Kubernetes and kwok, as built (go version -m) by
# the four of k8s.io/kubernetes and by kwok.
KUBE_BUILT = $(foreach b,$(KUBE_APISERVER) $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KUBECTL),$(call go-built,$(b),k8s\.io/kubernetes,$(KUBE_VERSION)) &&) \
	$(call go-built,$(KWOK),sigs\.k8s\.io/kwok,$(KWOK_VERSION))
$(TOOLS)/kube.version: FORCE
	@test "$(KUBE_MOD_VERSION)" = "$(KUBE_VERSION)" || { echo "mk/kube.mk: KUBE_VERSION is $(KUBE_VERSION) but mk/kube/go.mod requires k8s.io/kubernetes $(KUBE_MOD_VERSION)" >&2; exit 1; }
	$(call tool-stamp,kubernetes $(KUBE_VERSION) kwok $(KWOK_VERSION),$(KUBE_BUILT))

# One build for all five (a grouped target: one run makes them all).
$(KUBE_APISERVER) $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KUBECTL) $(KWOK) &: $(TOOLS)/kube.version
	@echo "building $(KUBE_BINS) ($(KUBE_VERSION), kwok $(KWOK_VERSION), mk/kube) into $(TOOLS)/bin (17–25 min cold on 2 cores, once per version)"
	@mkdir -p $(TOOLS)/bin
	cd mk/kube && GOWORK=off GOTOOLCHAIN=local $(GO) build -trimpath -ldflags='$(KUBE_LDFLAGS)' -o $(TOOLS)/bin/ \
	  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl sigs.k8s.io/kwok/cmd/kwok
	@touch $(KUBE_APISERVER) $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KUBECTL) $(KWOK)

# Debian's etcd-server, unpacked (not installed) into $(ETCD_DIR); fetched
# again when ETCD_DEB_VERSION changes (a few seconds).
$(TOOLS)/etcd.version: FORCE
	$(call tool-stamp,$(ETCD_DEB_VERSION),)

$(ETCD): $(TOOLS)/etcd.version
	@echo "fetching Debian's etcd-server $(ETCD_DEB_VERSION) into $(ETCD_DIR)"
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  cd "$$tmp"; \
	  $(KUBE_APT) download etcd-server=$(ETCD_DEB_VERSION) 2>/dev/null || { $(KUBE_APT) update && $(KUBE_APT) download etcd-server=$(ETCD_DEB_VERSION); }; \
	  rm -rf $(ETCD_DIR).tmp && mkdir -p $(ETCD_DIR).tmp && dpkg -x etcd-server_*.deb $(ETCD_DIR).tmp; \
	  rm -rf $(ETCD_DIR) && mv $(ETCD_DIR).tmp $(ETCD_DIR)
	@test -x $(ETCD) && touch $(ETCD)

# The ServiceMonitor CRD from the prometheus-operator module's zip.
$(SERVICEMONITOR_CRD):
	@echo "fetching the ServiceMonitor CRD of github.com/prometheus-operator/prometheus-operator@$(PROMETHEUS_OPERATOR_VERSION)"
	@mkdir -p $(@D)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  cd "$$tmp" && GOWORK=off GOFLAGS= $(GO) mod download github.com/prometheus-operator/prometheus-operator@$(PROMETHEUS_OPERATOR_VERSION); \
	  cp "$$($(GO) env GOMODCACHE)/github.com/prometheus-operator/prometheus-operator@$(PROMETHEUS_OPERATOR_VERSION)/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" $@.tmp; \
	  chmod 0644 $@.tmp; mv $@.tmp $@

$(TOOLS)/kwok-stages.version: FORCE
	$(call tool-stamp,$(KWOK_VERSION),)

$(KWOK_STAGES): $(TOOLS)/kwok-stages.version
	@mkdir -p $(@D)
	@set -e; cd mk/kube && GOWORK=off GOTOOLCHAIN=local $(GO) mod download sigs.k8s.io/kwok; \
	  dir=$$(GOWORK=off GOTOOLCHAIN=local $(GO) list -m -f '{{.Dir}}' sigs.k8s.io/kwok); \
	  for f in $(KWOK_STAGE_FILES); do echo ---; cat "$$dir/kustomize/stage/$$f"; done > $@.tmp; mv $@.tmp $@
