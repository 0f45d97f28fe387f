# Version stamps for the tools under $(TOOLS), whose paths carry no version
# (tools/bin/helm, tools/bin/kube-apiserver, tools/etcd, …): a tool depends
# on its stamp $(TOOLS)/<tool>.version, which holds the version the
# Makefile asks for. The stamp's rule runs every time (FORCE) but rewrites
# the file only when it holds another version, so bumping HELM_VERSION,
# KUBE_VERSION, ETCD_DEB_VERSION, … makes the stamp newer than the tool and
# make rebuilds it; otherwise nothing changes and nothing is rebuilt.
#
# A tool already on disk at the asked version (tools/ from before stamps)
# is not rebuilt for a missing stamp: CHECK, a cheap shell command (the
# module version `go version -m` reads from a Go binary, a SHA-256), says
# so, and the stamp is then written with a time older than the tool.
#
#   $(call tool-stamp,VERSION,CHECK)   the recipe of a stamp; CHECK may be empty
#   $(call go-built,BINARY,MODULE,VERSION)
#                                      true if BINARY was built from MODULE@VERSION

.PHONY: FORCE
FORCE:

define tool-stamp
@mkdir -p $(@D); \
if [ "$$(cat $@ 2>/dev/null)" != "$(1)" ]; then \
  echo "$(1)" > $@.tmp; \
  $(if $(2),if ( $(2) ) >/dev/null 2>&1; then touch -t 197001010000 $@.tmp; echo "$(@F): $(1) already on disk"; fi;) \
  mv $@.tmp $@; \
fi
endef

go-built = $(GO) version -m $(1) 2>/dev/null | grep -qE '^[[:space:]]+(mod|dep)[[:space:]]+$(2)[[:space:]]+$(3)([[:space:]]|$$)'
