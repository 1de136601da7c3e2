package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"ago":      ago,
	"in":       in,
	"clock":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"join":     strings.Join,
	"deref":    deref,
	"derefInt": func(p *int) int { return derefOr(p, 0) },
	"explain":  func(key string) string { return explanations[key] },
	"add":      func(a, b int) int { return a + b },
	"traceURL": func(s string) template.URL { return template.URL(s) }, // the operator's own setting
}

func deref(p *string) string { return derefOr(p, "") }

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// ago says how long before now t was, coarsely.
func ago(t time.Time) string { return span(time.Since(t)) + " ago" }

// in says how long after now t is.
func in(t time.Time) string {
	d := time.Until(t)
	if d <= 0 {
		return "ended"
	}
	return "in " + span(d)
}

func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// explanations say in plain words what the API's codes mean.
var explanations = map[string]string{
	// states
	"healthy": "Used in its normal place.",
	"demoted": "Enough senders failed to reach it: plans put it after the healthy addresses of its preference until the demotion ends.",
	"drained": "An operator took it out of the lead until the drain ends; plans list it last in its preference.",
	// dispositions and reasons
	"deliver":           "Deliver: try the addresses in this order.",
	"permanent_failure": "Bounce: this domain cannot receive mail.",
	"temporary_failure": "Defer: try again later.",
	"ok":                "The domain's mail servers were found.",
	"null_mx":           "The domain says it accepts no mail (null MX, RFC 7505).",
	"nxdomain":          "The domain does not exist.",
	"no_mail_hosts":     "The domain exists, but none of its mail servers can be used.",
	"dns_error":         "DNS did not answer in time or answered with an error.",
	"mx_loops_to_self":  "The domain's best mail server is this mail system itself.",
	// skip reasons
	"duplicate_address":   "Already in the plan at a better position.",
	"ignored_network":     "An address that is never dialled (loopback, link-local, ...).",
	"private_network":     "A private address, blocked by configuration.",
	"family_filtered":     "Not of the address family asked for.",
	"max_attempts":        "Beyond the plan's length limit.",
	"no_addresses":        "The host name has no addresses.",
	"lookup_failed":       "The host's addresses could not be looked up.",
	"invalid_host":        "Not a valid host name.",
	"mx_to_ip_disallowed": "The MX names an address instead of a host, which is not allowed here.",
	"self_loop":           "This mail system itself, or less preferred than it.",
	"mta_sts_mismatch":    "Not allowed by the domain's MTA-STS policy.",
	"tlsa_lookup_failed":  "Its DANE (TLSA) records could not be looked up securely.",
	// check
	"lb-none":    "All mail goes to one server: no load balancing.",
	"lb-weak":    "Load is shared, but by one name or shared addresses: a single failure can still hit everything.",
	"lb-strong":  "Several servers at the top preference, each with its own address: load is shared.",
	"fo-none":    "There is no second address to fall back to.",
	"fo-local":   "There are fallbacks, but in the same network: one network outage takes all of them.",
	"fo-diverse": "Fallbacks are in different networks: one outage leaves another way in.",
	"grade-A":    "Well built for both load balancing and failover.",
	"grade-B":    "Works; one of load balancing or failover could be stronger.",
	"grade-C":    "Works, but fragile.",
	"grade-F":    "Broken: mail to this domain fails or is at risk.",
}
