package exim

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/mxroute/mxroute/internal/apigen"
)

// DefaultPort is the SMTP port put on every address of a host list.
const DefaultPort = 25

// Answers the Exim configuration recognises besides a host list.
const (
	// AnswerPass makes both mxroute routers decline, so the next router
	// (Exim's dnslookup) routes the address: the fail-open answer.
	AnswerPass = "pass"
	// unavailableStatus is the enhanced status of a fail-closed deferral.
	unavailableStatus = "4.4.3"
)

// Answer turns a plan into the one-line answer for Exim. port is put on
// every address; an address that is not an IP literal (the contract says
// it always is) makes the plan unusable and the answer pass.
func Answer(plan apigen.Plan, port int) string {
	switch plan.Disposition {
	case apigen.PermanentFailure:
		return ":fail: " + status(plan, "5.0.0") + " " + reasonText(plan)
	case apigen.TemporaryFailure:
		return ":defer: " + status(plan, "4.0.0") + " " + reasonText(plan)
	case apigen.Deliver:
		return hostList(plan.Attempts, port)
	}
	return AnswerPass
}

// Unavailable is the answer when mxroute cannot be asked: pass (fail open,
// Exim routes by its own DNS lookups) or a deferral (fail closed).
func Unavailable(failClosed bool) string {
	if failClosed {
		return ":defer: " + unavailableStatus + " mxroute unavailable"
	}
	return AnswerPass
}

func hostList(attempts []apigen.Attempt, port int) string {
	if len(attempts) == 0 {
		return ":defer: 4.4.4 no usable mail host in the plan"
	}
	var b strings.Builder
	b.WriteString("<;")
	p := strconv.Itoa(port)
	for i, a := range attempts {
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			return AnswerPass
		}
		if i > 0 {
			b.WriteByte(';')
		}
		// Brackets around every address: required by Exim when a port
		// follows, and they keep IPv6 colons out of the list syntax.
		b.WriteString("[" + ip.Unmap().String() + "]:" + p)
	}
	return b.String()
}

func status(plan apigen.Plan, fallback string) string {
	if plan.EnhancedStatus != nil && *plan.EnhancedStatus != "" {
		return *plan.EnhancedStatus
	}
	return fallback
}

// reasonText is what the bounce or the defer log line says after the
// status: the reason code and the domain, readable without the spec.
func reasonText(plan apigen.Plan) string {
	why := strings.ReplaceAll(string(plan.Reason), "_", " ")
	switch plan.Reason {
	case apigen.ReasonNullMx:
		why = "domain " + plan.Domain + " accepts no mail (null MX, RFC 7505)"
	default:
		why = why + " for " + plan.Domain
	}
	return sanitize(why)
}

// sanitize keeps an answer on one printable line.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
