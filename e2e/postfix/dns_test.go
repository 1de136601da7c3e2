//go:build postfix_e2e

package postfixe2e

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// startDNS serves zone text on 127.0.0.1:53, where Postfix's libc
// resolver (pointed there by /etc/resolv.conf inside the namespace)
// and mxroute both ask. Names in servfail answer SERVFAIL.
func startDNS(t *testing.T, zone string, servfail ...string) {
	t.Helper()
	records := map[string][]dns.RR{}
	names := map[string]bool{}
	zp := dns.NewZoneParser(strings.NewReader(zone), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		name := strings.ToLower(h.Name)
		records[name+"/"+dns.TypeToString[h.Rrtype]] = append(records[name+"/"+dns.TypeToString[h.Rrtype]], rr)
		names[name] = true
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("zone: %v", err)
	}
	fail := map[string]bool{}
	for _, n := range servfail {
		fail[dns.Fqdn(n)] = true
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		switch {
		case fail[name]:
			m.Rcode = dns.RcodeServerFailure
		case !names[name]:
			m.Rcode = dns.RcodeNameError
		default:
			m.Answer = records[name+"/"+dns.TypeToString[q.Qtype]]
		}
		w.WriteMsg(m)
	})
	for _, netw := range []string{"udp", "tcp"} {
		started := make(chan error, 1)
		srv := &dns.Server{Addr: "127.0.0.1:53", Net: netw, Handler: h,
			NotifyStartedFunc: func() { started <- nil }}
		go func() {
			if err := srv.ListenAndServe(); err != nil {
				started <- err
			}
		}()
		if err := <-started; err != nil {
			t.Fatalf("dns on 127.0.0.1:53/%s (the e2e needs its own network namespace): %v", netw, err)
		}
		t.Cleanup(func() { srv.Shutdown() })
	}
}
