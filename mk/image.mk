# The container image (docs/operations.md, "Image"): one OCI image for every
# service, assembled by deploy/image without a container engine from
#   - the runtime files of the Debian packages pinned in deploy/image/debian.lock
#     (apt-get download + dpkg-deb -x into $(TOOLS)/image/debian, git-ignored),
#   - ONNX Runtime (mk/onnxruntime.mk),
#   - the partita binary built for linux/amd64.
#
#   make image        # $(BIN)/image/oci (OCI layout), $(BIN)/image/partita.tar
#                     # (docker load), $(BIN)/image/digest; prints the digest
#   make image-deps   # only the Debian packages (the image test needs them)
#   make image-lock   # re-pin deploy/image/debian.lock to apt's candidates
#
# Reproducible: the same commit, packages and ONNX Runtime give the same
# digest. Every time in the image is SOURCE_DATE_EPOCH, by default the commit's.
#
# The tag is the chart's appVersion (deploy/helm/partita/Chart.yaml), so the
# image `make image` builds is the one the chart's default image reference
# names (deploy/charttest checks the two agree); IMAGE_VERSION= overrides it.
# Nothing is published: load or push the result yourself (docs/operations.md).

IMAGE_REPO ?= ghcr.io/partita/partita
CHART_APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^" ]*\)"\{0,1\} *$$/\1/p' $(CURDIR)/deploy/helm/partita/Chart.yaml)
IMAGE_VERSION ?= $(or $(CHART_APP_VERSION),$(error mk/image.mk: no appVersion in deploy/helm/partita/Chart.yaml))
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_LOCK := $(CURDIR)/deploy/image/debian.lock
IMAGE_DEBIAN := $(TOOLS)/image/debian
IMAGE_OUT ?= $(BIN)/image
IMAGE_BINARY ?= $(BIN)/linux-amd64/partita
# No file paths in the binary, nor symbol table and DWARF (stack traces keep
# function names and lines); the image test builds it with these as well.
IMAGE_GOFLAGS := -trimpath -buildvcs=false
IMAGE_LDFLAGS := -s -w -X github.com/partita/partita/libs/buildinfo.Version=$(IMAGE_VERSION)
# apt-get download as root: without this apt warns that its _apt user
# cannot write the download folder.
IMAGE_APT := apt-get -qq $(if $(filter 0,$(shell id -u)),-o APT::Sandbox::User=root)

export PARTITA_IMAGE_DEBIAN := $(IMAGE_DEBIAN)

.PHONY: image image-binary image-deps image-lock

image: onnxruntime image-deps image-binary
	@test "$(ORT_ARCH)" = x64 || { echo "image: linux/amd64 only; this machine is $(ORT_ARCH)" >&2; exit 1; }
	cd deploy/image && $(GO) run . -binary $(IMAGE_BINARY) -ort $(ORT_LIB) -ort-version $(ORT_VERSION) \
	  -debian $(IMAGE_DEBIAN) -lock $(IMAGE_LOCK) -repo $(IMAGE_REPO) -version $(IMAGE_VERSION) \
	  -revision "$(IMAGE_REVISION)" -epoch $(SOURCE_DATE_EPOCH) -out $(IMAGE_OUT)

# Always run: go build's cache makes it quick when nothing changed.
image-binary:
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) build $(IMAGE_GOFLAGS) -ldflags='$(IMAGE_LDFLAGS)' -o $(IMAGE_BINARY) ./cmd/partita

image-deps: $(IMAGE_DEBIAN)/debian.lock

# The lock's packages, each checked against its SHA-256 and extracted into
# $(IMAGE_DEBIAN)/<package>/ with its control fields in <package>.control;
# $(IMAGE_DEBIAN)/debian.lock records what was extracted. apt's lists are
# refreshed once when a pinned version is not in them. Debian's archive keeps
# only the newest version of a package in a suite, so a pin goes stale at each
# point or security release: `make image` then fails (run make image-lock),
# while `make tools` (for the image test) takes apt's candidate with a warning
# rather than fail every test run until the lock is updated.
IMAGE_LOCK_FALLBACK ?=
tools: IMAGE_LOCK_FALLBACK := 1

$(IMAGE_DEBIAN)/debian.lock: $(IMAGE_LOCK)
	@command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { echo "image-deps: apt-get and dpkg-deb are needed" >&2; exit 1; }
	@echo "fetching the image's Debian packages (deploy/image/debian.lock) -> $(IMAGE_DEBIAN)"
	@set -e; rm -rf $(IMAGE_DEBIAN); mkdir -p $(IMAGE_DEBIAN)/debs; cd $(IMAGE_DEBIAN)/debs; \
	  grep '^#' $< > ../lock.partial; \
	  while read -r pkg ver arch sum; do \
	    spec="$$pkg"; [ "$$arch" = all ] || spec="$$pkg:$$arch"; \
	    if ! $(IMAGE_APT) download "$$spec=$$ver" 2>/dev/null && ! { apt-get update -qq && $(IMAGE_APT) download "$$spec=$$ver"; }; then \
	      [ -n "$(IMAGE_LOCK_FALLBACK)" ] || { echo "image-deps: $$spec=$$ver is not served any more: run make image-lock" >&2; exit 1; }; \
	      echo "image-deps: WARNING: $$spec=$$ver is not served any more, taking apt's candidate (run make image-lock)" >&2; \
	      $(IMAGE_APT) download "$$spec"; \
	    else \
	      deb="$${pkg}_$${ver//:/%3a}_$${arch}.deb"; \
	      echo "$$sum  $$deb" | sha256sum -c --quiet - || { echo "image-deps: $$deb does not match debian.lock" >&2; exit 1; }; \
	    fi; \
	    deb=$$(ls $${pkg}_*.deb); \
	    dpkg-deb -x "$$deb" ../$$pkg; dpkg-deb -f "$$deb" > ../$$pkg.control; \
	    echo "$$pkg $$(dpkg-deb -f $$deb Version) $$(dpkg-deb -f $$deb Architecture) $$(sha256sum < $$deb | cut -d' ' -f1)" >> ../lock.partial; \
	  done < <(grep -v '^[[:space:]]*\(#\|$$\)' $<); \
	  mv ../lock.partial $@

image-lock:
	@set -e; apt-get update -qq; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  grep '^#' $(IMAGE_LOCK) > $$tmp/lock; \
	  while read -r pkg ver arch sum; do \
	    spec=$$pkg; [ "$$arch" = all ] || spec="$$pkg:$$arch"; \
	    (cd $$tmp && $(IMAGE_APT) download "$$spec"); deb=$$(ls $$tmp/$${pkg}_*.deb); \
	    echo "$$pkg $$(dpkg-deb -f $$deb Version) $$(dpkg-deb -f $$deb Architecture) $$(sha256sum < $$deb | cut -d' ' -f1)" >> $$tmp/lock; \
	    rm -f $$deb; \
	  done < <(grep -v '^[[:space:]]*\(#\|$$\)' $(IMAGE_LOCK)); \
	  cp $$tmp/lock $(IMAGE_LOCK); echo "deploy/image/debian.lock:"; grep -v '^#' $(IMAGE_LOCK)
