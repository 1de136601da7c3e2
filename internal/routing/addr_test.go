package routing

import (
	"net/netip"
	"testing"
)

func TestNeverDialAndIsPrivate(t *testing.T) {
	for _, tc := range []struct {
		addr           string
		never, private bool
	}{
		{"192.0.2.1", false, false},
		{"127.0.0.2", true, false},
		{"0.0.0.0", true, false},
		{"255.255.255.255", true, false},
		{"::ffff:127.0.0.1", true, false},
		{"64:ff9b::7f00:1", true, false},
		{"fe80::1%eth0", true, false},
		{"ff02::1", true, false},
		{"10.1.2.3", false, true},
		{"::ffff:192.168.1.1", false, true},
		{"fd00::25", false, true},
		{"2001:db8::1", false, false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := NeverDial(a); got != tc.never {
			t.Errorf("NeverDial(%s) = %v, want %v", tc.addr, got, tc.never)
		}
		if got := IsPrivate(a); got != tc.private {
			t.Errorf("IsPrivate(%s) = %v, want %v", tc.addr, got, tc.private)
		}
	}
	if !NeverDial(netip.Addr{}) {
		t.Errorf("the zero Addr must never be dialled")
	}
}
