// Package exime2e is the end-to-end test of the mxroute agent's Exim side:
// two real Exim 4.96 instances, their agents, mxroute with a real Redis,
// and SMTP sinks on loopback addresses, inside a private network namespace.
// It runs with the exim_e2e build tag through `make exim-e2e`, which
// installs Exim first (install-exim.sh) and sets MXROUTE_EXIM.
package exime2e
