# ONNX Runtime shared library for the in-process scorer runtime (libs/onnxrt).
#
# The library is taken from the npm package onnxruntime-node, which ships the
# official Linux builds under package/bin/napi-v6/linux/<arch>/. Only node/npm
# are needed; the file lands in $(TOOLS)/lib (git-ignored) and the rule is a
# no-op once it is there at ORT_VERSION (its stamp $(TOOLS)/onnxruntime.version,
# mk/stamp.mk; a library already there is judged by its SHA-256). The
# extracted library is checked against a pinned SHA-256, so a version bump
# must update ORT_SHA256_<arch> as well.
#
#   make onnxruntime            # fetch if missing
#   PARTITA_ORT_LIB=$(ORT_LIB)  # what the onnxrt tests and the scorer load

TOOLS ?= $(CURDIR)/tools
ORT_VERSION := 1.30.0
ORT_LIB := $(TOOLS)/lib/libonnxruntime.so.1

ORT_SHA256_x64 := ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
ORT_SHA256_arm64 := 1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76
ORT_ARCH := $(patsubst aarch64,arm64,$(patsubst x86_64,x64,$(shell uname -m)))
ORT_SHA256 := $(ORT_SHA256_$(ORT_ARCH))
ORT_MEMBER := package/bin/napi-v6/linux/$(ORT_ARCH)/libonnxruntime.so.1

.PHONY: onnxruntime
onnxruntime: $(ORT_LIB)

$(TOOLS)/onnxruntime.version: FORCE
	$(call tool-stamp,$(ORT_VERSION) $(ORT_ARCH) $(ORT_SHA256),echo "$(ORT_SHA256)  $(ORT_LIB)" | sha256sum -c --quiet -)

$(ORT_LIB): $(TOOLS)/onnxruntime.version
	@test -n "$(ORT_SHA256)" || { echo "onnxruntime: unsupported architecture '$(ORT_ARCH)' (linux x64 and arm64 only)" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "onnxruntime: npm is required to fetch onnxruntime-node@$(ORT_VERSION)" >&2; exit 1; }
	@mkdir -p $(@D)
	@echo "fetching onnxruntime-node@$(ORT_VERSION) ($(ORT_ARCH)) -> $@"
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  npm pack --silent --pack-destination "$$tmp" onnxruntime-node@$(ORT_VERSION) >/dev/null; \
	  tar -xzmf "$$tmp/onnxruntime-node-$(ORT_VERSION).tgz" -C "$$tmp" $(ORT_MEMBER); \
	  echo "$(ORT_SHA256)  $$tmp/$(ORT_MEMBER)" | sha256sum -c --quiet -; \
	  mv "$$tmp/$(ORT_MEMBER)" $@.partial; \
	  mv $@.partial $@
