package main

import (
	"os"
	"testing"

	"github.com/mxroute/mxroute/internal/resolver/guardtest"
)

// TestMain fails the run if any test made mxroute send DNS outside
// loopback (the demo zone's name servers, a system resolver, ...).
func TestMain(m *testing.M) { os.Exit(guardtest.LoopbackOnly(m, (*testing.M).Run)) }
