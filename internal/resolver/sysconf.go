package resolver

import (
	"fmt"
	"net"

	"github.com/miekg/dns"
)

// SystemServers reads the nameserver lines of a resolv.conf file (usually
// /etc/resolv.conf) as host:port addresses for Config.Servers, in file
// order. A file without nameservers is an error wrapping ErrNoServers.
func SystemServers(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resolver config %s: %w", path, err)
	}
	if len(cc.Servers) == 0 {
		return nil, fmt.Errorf("read resolver config %s: %w", path, ErrNoServers)
	}
	out := make([]string, len(cc.Servers))
	for i, s := range cc.Servers {
		out[i] = net.JoinHostPort(s, cc.Port)
	}
	return out, nil
}
