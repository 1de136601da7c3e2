# mxroute. `make run` serves on the embedded defaults, offline; `make test`
# installs what the tests need (redis-server, Exim, Postfix, Chromium,
# Prometheus, npm packages) and runs every check CI runs.
SHELL := /bin/bash
GO    ?= go
PKGS  := ./...

.PHONY: run build test deps fmt-check vet lint staticcheck deadcode go-test generate generate-check bench haraka-test haraka-e2e exim-e2e postfix-e2e console-e2e dashboards-test

# run answers offline: the demo zone from the binary, and as upstream only a
# resolver on this machine's 127.0.0.1:53 if there is one, so trying the
# README's examples sends nothing off the machine.
run:
	MXROUTE_DNS_SERVERS=$${MXROUTE_DNS_SERVERS:-127.0.0.1:53} $(GO) run ./cmd/mxroute

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/mxroute ./cmd/mxroute
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/mxroute-agent ./cmd/mxroute-agent

# APT_INSTALL installs Debian packages without their recommends and
# without starting (or enabling) any system service: the tests start their
# own servers on free loopback ports. See tools/apt-install.sh.
APT_INSTALL := tools/apt-install.sh

# deps installs the servers the tests start themselves on free ports
# (unbound: the validating resolver of internal/dnssectest).
deps:
	@if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then \
		echo "installing redis-server and redis-tools"; \
		$(APT_INSTALL) redis-server redis-tools; \
	fi
	@if ! command -v gcc >/dev/null; then \
		echo "installing gcc (go test -race needs cgo)"; \
		$(APT_INSTALL) gcc libc6-dev; \
	fi
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		echo "installing nodejs and npm (ca-certificates: npm fetches over HTTPS)"; \
		$(APT_INSTALL) nodejs npm ca-certificates; \
	fi
	@if ! command -v unbound >/dev/null && [ ! -x /usr/sbin/unbound ]; then \
		echo "installing unbound (DNSSEC tests start their own on free loopback ports; the system service is kept off)"; \
		$(APT_INSTALL) unbound; \
	fi
	@major=$$(node -p 'process.versions.node.split(".")[0]'); if [ "$$major" -lt 20 ]; then \
		echo "Node.js $$(node --version) is too old: the Haraka plugin needs 20 or later (fetch, AbortSignal.timeout)"; exit 1; fi
	@redis-server --version && node --version && gcc --version | head -1 && PATH=$$PATH:/usr/sbin unbound -V | head -1

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# lint runs staticcheck and the dead-code check. Both are tools of the
# separate module tools/go.mod, so their dependencies stay out of go.mod.
TOOL := $(GO) tool -modfile=tools/go.mod

lint: staticcheck deadcode

staticcheck:
	$(TOOL) staticcheck ./...

# deadcode lists functions that neither a main nor a test reaches; any line
# it prints fails the target.
deadcode:
	@out=$$($(TOOL) deadcode -test ./...); if [ -n "$$out" ]; then echo "dead code:"; echo "$$out"; exit 1; fi

# go-test runs in a network namespace of its own with only loopback up:
# tests send traffic to 127.0.0.0/8 and ::1 only, and anything else fails
# there instead of leaving the machine (guardtest names DNS dials too).
go-test:
	$$( [ "$$(id -u)" = 0 ] && echo unshare -n || echo unshare -rn ) sh -c 'ip link set lo up && exec $(GO) test -race -count=1 $(PKGS)'

generate:
	$(GO) generate ./...

# generate-check fails when the committed generated code is not what the
# contract produces.
generate-check: generate
	@git diff --exit-code -- internal/apigen || (echo "run 'make generate' and commit the result"; exit 1)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/...

test: deps fmt-check vet lint go-test generate-check chart-lint chart-test haraka-test haraka-e2e exim-e2e postfix-e2e console-e2e dashboards-test

haraka-test:
	$(MAKE) -C clients/haraka test

haraka-e2e:
	$(MAKE) -C clients/haraka e2e

-include deploy/helm/chart.mk

# exim-e2e: two real Exim 4.96 instances (unpacked from Debian's packages by
# install-exim.sh; no system instance is configured or started) with their
# agents, mxroute and a real Redis, inside private network and mount
# namespaces. The binaries are built first: nothing is downloaded inside.
# Exim and the run's files live outside the checkout, in places its
# Debian-exim processes can reach whatever the checkout's permissions.
EXIM_E2E   := $(CURDIR)/.cache/exim-e2e
EXIM_CACHE ?= /var/cache/mxroute-e2e/mta
EXIM_WORK  ?= /tmp/mxroute-exim-e2e
exim-e2e:
	@command -v ip >/dev/null || $(APT_INSTALL) iproute2
	@mkdir -p $(EXIM_E2E)
	$(GO) build -o $(EXIM_E2E)/mxroute ./cmd/mxroute
	$(GO) build -o $(EXIM_E2E)/mxroute-agent ./cmd/mxroute-agent
	$(GO) test -c -tags exim_e2e -o $(EXIM_E2E)/exim-e2e.test ./e2e/exim
	exim=$$(e2e/exim/install-exim.sh $(EXIM_CACHE)) && cd e2e/exim && \
		MXROUTE_EXIM=$$exim MXROUTE_BIN=$(EXIM_E2E)/mxroute MXROUTE_AGENT_BIN=$(EXIM_E2E)/mxroute-agent \
		MXROUTE_E2E_DIR=$(EXIM_WORK) MXROUTE_E2E_HOST_MNT=$$(readlink /proc/self/ns/mnt) \
		unshare -n -m sh -c 'ip link set lo up && exec $(EXIM_E2E)/exim-e2e.test -test.v -test.count=1 -test.timeout=600s'

# postfix-e2e: two real Postfix 3.7 instances (unpacked from Debian's package
# into .cache/mta/postfix; only its libraries are installed, no system
# instance is configured or started), each with its own mxroute-agent, against
# mxroute, a real Redis, DNS on 127.0.0.1:53, SMTP sinks on 127.0.0.2/.3,
# STARTTLS sinks on 127.0.0.4-.9 with certificates from test CAs, a loopback
# HTTPS MTA-STS policy server and, for DANE, a validating unbound in front
# of a signed zone, in private network and mount namespaces. See
# e2e/postfix/run.sh and docs/postfix.md.
postfix-e2e:
	e2e/postfix/run.sh

# postfix-bench: the figures of docs/benchmarks.md (Postfix agent) on the
# e2e's real Postfix: throughput with and without the agent, queue
# splitting, socketmap latency, agent CPU per 1,000 log lines.
postfix-bench:
	E2E_TAGS=postfix_e2e,postfix_bench e2e/postfix/run.sh -test.run TestPostfixBench

# console-e2e drives Debian's headless Chromium against the console
# (cmd/mxroute/console_browser_test.go, build tag "browser") with a real
# Redis, inside a network namespace that has only loopback. Screenshots go
# to test-output/console/; MXROUTE_DOCS_SCREENSHOTS=1 also refreshes
# docs/console/.
console-e2e:
	@if ! command -v chromium >/dev/null; then \
		echo "installing chromium"; \
		$(APT_INSTALL) chromium; \
	fi
	$(GO) test -c -tags browser -o bin/console.test ./cmd/mxroute
	mkdir -p test-output
	cd cmd/mxroute && $$( [ "$$(id -u)" = 0 ] && echo unshare -n || echo unshare -rn ) sh -c \
		'ip link set lo up && MXROUTE_TEST_OUTPUT=$(CURDIR)/test-output ../../bin/console.test -test.run TestConsole -test.v -test.count=1'

# dashboards-test runs Debian's prometheus against mxroute with a real Redis
# under a little traffic and evaluates every PromQL expression of
# deploy/grafana (dashboards and alert rules): each must parse and every
# panel must return data (cmd/mxroute/dashboards_test.go, build tag
# "prometheus"), inside a loopback-only network namespace.
dashboards-test:
	@if ! command -v prometheus >/dev/null; then \
		echo "installing prometheus (its service and node exporter stay off)"; \
		$(APT_INSTALL) prometheus; \
	fi
	$(GO) test -c -tags prometheus -o bin/dashboards.test ./cmd/mxroute
	cd cmd/mxroute && $$( [ "$$(id -u)" = 0 ] && echo unshare -n || echo unshare -rn ) sh -c \
		'ip link set lo up && ../../bin/dashboards.test -test.run TestDashboardsQueries -test.v -test.count=1'
