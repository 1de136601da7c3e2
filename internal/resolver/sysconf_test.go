package resolver_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/mxroute/mxroute/internal/resolver"
)

func TestSystemServers(t *testing.T) {
	path := writeFile(t, "resolv.conf", "# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:2\n")
	got, err := resolver.SystemServers(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"192.0.2.53:53", "[2001:db8::53]:53"}; !slices.Equal(got, want) {
		t.Errorf("SystemServers = %q, want %q", got, want)
	}

	empty := writeFile(t, "empty.conf", "search example.com\n")
	if _, err := resolver.SystemServers(empty); !errors.Is(err, resolver.ErrNoServers) {
		t.Errorf("no nameserver: err = %v, want ErrNoServers", err)
	}
	if _, err := resolver.SystemServers(empty + ".missing"); err == nil {
		t.Error("missing file: no error")
	}
}
