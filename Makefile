# docker-layers — a Docker CLI plugin to inspect and extract image layers.

BINARY   := bin/docker-layers
PKG      := github.com/docker-layers/docker-layers
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X $(PKG)/cli-plugins/commands.version=$(VERSION)
PLUGINS  := $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
GO       ?= go
FUZZTIME ?= 30s

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB      ?= https://vuln.go.dev

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/docker-layers with the version stamped
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BINARY) ./cli-plugins/docker-layers

.PHONY: install
install: build ## Install the plugin into $${DOCKER_CONFIG:-~/.docker}/cli-plugins
	install -d $(PLUGINS)
	install -m 0755 $(BINARY) $(PLUGINS)/docker-layers
	@echo "installed $(PLUGINS)/docker-layers: try 'docker layers --help'"

.PHONY: unit
unit: ## Run the unit tests and the fuzz corpora
	@# igzip, which extract's tests check against the built-in inflater,
	@# comes from apt-get (isal) with the e2e daemons' packages.
	@command -v igzip >/dev/null || e2e/daemons/install.sh
	$(GO) test -count=1 ./inspect/... ./source/... ./extract/... ./flatten/... ./squash/... ./compare/... ./analyze/... ./report/... ./cli-plugins/...

.PHONY: e2e
e2e: build ## Run the e2e tests against the three throwaway daemons
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
	@set -e; for t in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' inspect source extract flatten squash compare | sed 's/func //' | sort -u); do \
		pkg=$$(dirname $$(grep -rlE "^func $$t\(" --include='*_test.go' inspect source extract flatten squash compare | head -1)); \
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
	rm -rf bin
