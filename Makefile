# docker-layers — a Docker CLI plugin to inspect and extract image layers.

BINARY   := bin/docker-layers
PKG      := github.com/docker-layers/docker-layers
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X $(PKG)/cli-plugins/commands.version=$(VERSION)
PLUGINS  := $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
GO       ?= go
FUZZTIME ?= 30s

# The platforms Docker Desktop and Docker Engine run on; `make release`
# writes one plugin binary for each into DIST.
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
DIST      ?= dist
# release-check builds these twice (all six take longer; see README).
CHECK_PLATFORMS ?= linux/amd64 darwin/arm64
# Release builds are reproducible: no cgo, no paths, no VCS stamp, no
# build ID, and the default instruction-set levels whatever the
# environment says, so that the same commit and Go toolchain give the
# same bytes.
RELEASE_ENV   := CGO_ENABLED=0 GOAMD64=v1 GOARM64=v8.0
RELEASE_FLAGS := -trimpath -buildvcs=false -ldflags "$(LDFLAGS) -buildid="

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB      ?= https://vuln.go.dev

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/docker-layers with the version stamped
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BINARY) ./cli-plugins/docker-layers

.PHONY: install
install: build ## Install the plugin into $${DOCKER_CONFIG:-~/.docker}/cli-plugins
	install -d $(PLUGINS)
	install -m 0755 $(BINARY) $(PLUGINS)/docker-layers
	@echo "installed $(PLUGINS)/docker-layers: try 'docker layers --help'"

# cross builds as release does (-trimpath), so that release and
# release-check reuse what it compiled.
.PHONY: cross
cross: ## go vet and go build every package for each of the six PLATFORMS
	@set -e; for p in $(PLATFORMS); do \
		echo "cross: $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(RELEASE_ENV) $(GO) vet -trimpath ./...; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(RELEASE_ENV) $(GO) build -trimpath -o /dev/null ./...; \
	done

.PHONY: release
release: ## Write the plugin for each of PLATFORMS, and SHA256SUMS, into dist/
	rm -rf $(DIST)
	mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "release: $(DIST)/docker-layers-$$os-$$arch$$ext"; \
		GOOS=$$os GOARCH=$$arch $(RELEASE_ENV) $(GO) build $(RELEASE_FLAGS) -o $(DIST)/docker-layers-$$os-$$arch$$ext ./cli-plugins/docker-layers; \
	done
	cd $(DIST) && sha256sum docker-layers-* > SHA256SUMS
	@cat $(DIST)/SHA256SUMS

.PHONY: release-check
release-check: ## Check that release builds are reproducible: CHECK_PLATFORMS built twice, from two paths
	.ci/release-check "$(VERSION)" $(CHECK_PLATFORMS)

.PHONY: unit
unit: ## Run the unit tests and the fuzz corpora
	@# igzip, which extract's tests check against the built-in inflater,
	@# comes from apt-get (isal) with the e2e daemons' packages.
	@command -v igzip >/dev/null || e2e/daemons/install.sh
	$(GO) test -count=1 ./inspect/... ./source/... ./extract/... ./flatten/... ./squash/... ./compare/... ./analyze/... ./report/... ./cli-plugins/...

.PHONY: e2e
e2e: build ## Run the e2e tests against the four throwaway daemons
	e2e/run.sh

.PHONY: test
test: unit e2e ## Run every test: unit, then e2e on real daemons (started if needed)

.PHONY: lint
lint: ## gofmt, go vet, staticcheck and govulncheck (pinned, via go run)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@# govulncheck needs its database ($(VULNDB)); where it is out of reach
	@# (no network), say so instead of failing or passing silently.
	@if curl -sfm 10 -o /dev/null $(VULNDB)/index/db.json.gz; then \
		$(GO) run $(GOVULNCHECK) -db $(VULNDB) ./...; \
	else \
		echo "lint: govulncheck SKIPPED: vulnerability database $(VULNDB) unreachable (set VULNDB to a mirror)"; \
	fi

.PHONY: fuzz
fuzz: ## Run each fuzz target for $(FUZZTIME)
	@set -e; for t in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' inspect source extract flatten squash compare analyze | sed 's/func //' | sort -u); do \
		pkg=$$(dirname $$(grep -rlE "^func $$t\(" --include='*_test.go' inspect source extract flatten squash compare analyze | head -1)); \
		echo "fuzz $$t in ./$$pkg for $(FUZZTIME)"; \
		log=$$(mktemp); rc=0; \
		$(GO) test ./$$pkg -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s >$$log 2>&1 || rc=$$?; \
		cat $$log; \
		if [ $$rc -ne 0 ] && grep -q 'context deadline exceeded' $$log && ! grep -qE 'Failing input written|panic:' $$log; then \
			echo "fuzz $$t: Go's fuzz coordinator lost its race with -fuzztime (golang/go#75804, fixed in Go 1.27) and wrote no failing input; replaying the corpus instead"; \
			rc=0; $(GO) test ./$$pkg -run "^$$t$$" -count 1 || rc=$$?; \
		fi; \
		rm -f $$log; [ $$rc -eq 0 ]; \
	done

.PHONY: bench
bench: build ## Measure extract against docker save, docker export and crane; write BENCHMARKS.md
	e2e/bench/run.sh

.PHONY: demo
demo: build ## Install the plugin; inspect, diff, cat and extract a sample image (no daemon, then offline-built on Docker)
	e2e/demo.sh

.PHONY: clean
clean: ## Remove build output
	rm -rf bin $(DIST)
