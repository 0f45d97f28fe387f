# Helm for the chart's tests (deploy/charttest: helm lint --strict and
# helm template over a matrix of values), built from its Go module into
# $(TOOLS)/bin (git-ignored); a no-op once the binary is there at
# HELM_VERSION (its stamp $(TOOLS)/helm.version, mk/stamp.mk).
#
#   make helm                   # build if missing
#   PARTITA_HELM=$(HELM)        # what the chart tests run

TOOLS ?= $(CURDIR)/tools
GO ?= go
HELM_VERSION := v4.3.2
HELM := $(TOOLS)/bin/helm

.PHONY: helm
helm: $(HELM)

$(TOOLS)/helm.version: FORCE
	$(call tool-stamp,$(HELM_VERSION),$(call go-built,$(HELM),helm.sh/helm/v4,$(HELM_VERSION)))

$(HELM): $(TOOLS)/helm.version
	@echo "building helm $(HELM_VERSION) into $(TOOLS)/bin (a few minutes, once per version)"
	@mkdir -p $(TOOLS)/bin
	cd $(TOOLS) && GOWORK=off GOBIN=$(TOOLS)/bin $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
	@touch $@

# The KEDA ScaledObject CRD, taken from the kedacore/keda/v2 Go module's zip
# (config/crd/bases) through the Go module proxy: the chart tests validate
# rendered ScaledObjects against its openAPIV3Schema.
#
#   make keda-crd                   # fetch if missing
#   PARTITA_KEDA_CRD=$(KEDA_CRD)    # what the chart tests read
KEDA_VERSION := v2.21.0
KEDA_CRD := $(TOOLS)/crds/keda-$(KEDA_VERSION)/keda.sh_scaledobjects.yaml

.PHONY: keda-crd
keda-crd: $(KEDA_CRD)

$(KEDA_CRD):
	@echo "fetching the ScaledObject CRD of github.com/kedacore/keda/v2@$(KEDA_VERSION)"
	@mkdir -p $(@D)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  cd "$$tmp" && GOWORK=off GOFLAGS= $(GO) mod download github.com/kedacore/keda/v2@$(KEDA_VERSION); \
	  cp "$$($(GO) env GOMODCACHE)/github.com/kedacore/keda/v2@$(KEDA_VERSION)/config/crd/bases/keda.sh_scaledobjects.yaml" $@.tmp; \
	  chmod 0644 $@.tmp; mv $@.tmp $@
