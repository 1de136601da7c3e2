# Make targets for the Helm chart in deploy/helm/mxroute. The main Makefile
# includes this file; every path here is relative to the repository root.
#
# Helm is not installed system-wide: it is built from the Go module proxy as
# a tool of the separate module tools/go.mod (its ~120 modules stay out of the
# service's go.mod). The first run builds it, about two minutes on 2 cores;
# later runs reuse the build cache.

CHART_DIR    := deploy/helm/mxroute
CHART_VALUES := $(sort $(wildcard $(CHART_DIR)/ci/*.yaml))
HELM         := go tool -modfile=tools/go.mod helm

.PHONY: chart-lint chart-test

# chart-lint runs helm lint in strict mode and renders the chart with its
# defaults and with each ci/*.yaml values file; any error fails the target.
chart-lint:
	$(HELM) lint --strict $(CHART_DIR)
	@set -e; for f in $(CHART_VALUES); do \
		echo "$(HELM) lint --strict $(CHART_DIR) -f $$f"; \
		$(HELM) lint --strict --quiet $(CHART_DIR) -f $$f; \
	done
	$(HELM) template mxroute $(CHART_DIR) >/dev/null
	@set -e; for f in $(CHART_VALUES); do \
		echo "$(HELM) template mxroute $(CHART_DIR) -f $$f >/dev/null"; \
		$(HELM) template mxroute $(CHART_DIR) -f $$f >/dev/null; \
	done

# chart-test renders the chart in process and decodes every manifest strictly
# into the Kubernetes API types (deploy/helm/charttest, its own module).
chart-test:
	cd deploy/helm/charttest && go test -count=1 ./...
