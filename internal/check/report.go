package check

// Status is the overall verdict of a check.
type Status string

// Statuses, from best to worst.
const (
	// StatusPass means no finding of level warning or error.
	StatusPass Status = "pass"
	// StatusWarn means at least one warning and no error.
	StatusWarn Status = "warn"
	// StatusFail means at least one error.
	StatusFail Status = "fail"
)

// Letter is the letter grade summarising the layout. (The name Grade is
// taken by the function that computes reports.)
type Letter string

// Grades, from best to worst.
const (
	// GradeA is a pass with strong load balancing and diverse failover.
	GradeA Letter = "A"
	// GradeB is any other pass.
	GradeB Letter = "B"
	// GradeC is a warn.
	GradeC Letter = "C"
	// GradeF is a fail.
	GradeF Letter = "F"
)

// Balancing says how well senders spread load over the lowest preference.
type Balancing string

// Balancing classes.
const (
	// BalancingNone means one usable address at the lowest preference.
	BalancingNone Balancing = "none"
	// BalancingWeak means several addresses at the lowest preference, but
	// every MX name there shares an address with the others (typically one
	// name with several A records). Spreading then relies on the resolver or
	// the sender shuffling addresses, which no RFC requires: RFC 5321 says
	// the addresses of one host are tried in the order presented.
	BalancingWeak Balancing = "weak"
	// BalancingStrong means at least two MX names at the lowest preference
	// whose address sets are disjoint, so the random choice among equal
	// preferences that RFC 5321 section 5.1 requires lands on different
	// addresses whatever order the resolver presents them in.
	BalancingStrong Balancing = "strong"
)

// FailoverClass says how far apart the fallback addresses are.
type FailoverClass string

// Failover classes.
const (
	// FailoverNone means at most one usable address.
	FailoverNone FailoverClass = "none"
	// FailoverLocal means several addresses, all in one prefix.
	FailoverLocal FailoverClass = "local"
	// FailoverDiverse means addresses in two or more prefixes.
	FailoverDiverse FailoverClass = "diverse"
)

// Level is a finding's severity, on Zonemaster's scale.
type Level string

// Levels, from worst to mildest.
const (
	// LevelError breaks delivery or an RFC MUST; the check fails.
	LevelError Level = "error"
	// LevelWarning weakens delivery; the check warns.
	LevelWarning Level = "warning"
	// LevelNotice is worth knowing but does not change the status.
	LevelNotice Level = "notice"
	// LevelInfo reports a fact, including what could not be checked.
	LevelInfo Level = "info"
)

// rank orders levels, worst first.
func (l Level) rank() int {
	switch l {
	case LevelError:
		return 0
	case LevelWarning:
		return 1
	case LevelNotice:
		return 2
	default:
		return 3
	}
}

// Report is the outcome of a check. Its JSON form is the CheckReport schema
// of api/openapi.yaml field for field (apigen.CheckReport), so the HTTP
// handler converts it without logic. Slices are never nil, so they encode
// as [] rather than null, as the schema requires.
type Report struct {
	// Domain is the checked domain, as given.
	Domain string `json:"domain"`
	// Status is fail with any error finding, warn with any warning, else
	// pass.
	Status Status `json:"status"`
	// Grade is F on fail, C on warn, A on a pass with strong balancing and
	// diverse failover, B on any other pass.
	Grade Letter `json:"grade"`
	// LoadBalancing classifies the lowest preference.
	LoadBalancing Balancing `json:"load_balancing"`
	// Failover describes the fallback addresses over all preferences.
	Failover Failover `json:"failover"`
	// MX lists the MX records by preference (then host), with what their
	// targets resolved to. For an implicit MX (no MX records, RFC 5321
	// section 5.1) it holds the domain itself at preference 0 with TTL 0,
	// since there is no MX record to take a TTL from.
	MX []MX `json:"mx"`
	// Findings lists what was found, worst level first.
	Findings []Finding `json:"findings"`
	// Recommendation is a short concrete fix for the worst problem, or a
	// note that nothing needs changing.
	Recommendation string `json:"recommendation"`
}

// Failover describes what a sender can fall back to.
type Failover struct {
	// Class is none, local or diverse.
	Class FailoverClass `json:"class"`
	// UniqueAddresses are the usable addresses (resolved, not unroutable)
	// in the order a sender would try them: by preference, then host name
	// (equal preferences are shuffled by senders anyway), then resolver
	// order, each once.
	UniqueAddresses []string `json:"unique_addresses"`
	// UniquePrefixes counts the distinct /24 (IPv4) and /48 (IPv6)
	// prefixes among UniqueAddresses.
	UniquePrefixes int `json:"unique_prefixes"`
	// EffectiveDepth is how many of UniqueAddresses a sender tries before
	// deferring: at most MaxSenderAddresses, Postfix's default
	// smtp_mx_address_limit.
	EffectiveDepth int `json:"effective_depth"`
}

// MaxSenderAddresses is the number of addresses a typical sender tries per
// delivery attempt (Postfix smtp_mx_address_limit = 5); addresses beyond it
// add no failover.
const MaxSenderAddresses = 5

// MX is one MX record and what its target resolved to.
type MX struct {
	// Host is the target, lower case without the trailing dot; "." for a
	// null MX.
	Host string `json:"host"`
	// Preference is the MX preference.
	Preference int `json:"preference"`
	// Addresses are the target's A and AAAA addresses in resolver order.
	Addresses []string `json:"addresses"`
	// TTL is the record's TTL in seconds, from an authoritative answer
	// when one was had.
	TTL int `json:"ttl"`
	// PTR holds the reverse lookup of each routable address that was
	// checked; addresses that could not be checked are absent.
	PTR []PTR `json:"ptr"`
}

// PTR is the reverse lookup of one address.
type PTR struct {
	// Address is the address looked up.
	Address string `json:"address"`
	// Names are its PTR names, lower case without the trailing dot.
	Names []string `json:"names"`
	// ForwardConfirmed reports whether one of Names resolves back to
	// Address (forward-confirmed reverse DNS).
	ForwardConfirmed bool `json:"forward_confirmed"`
}

// Finding is one observation.
type Finding struct {
	// Code is a stable identifier such as DUPLICATE_ADDRESS.
	Code string `json:"code"`
	// Level is the severity.
	Level Level `json:"level"`
	// Message explains the finding for a person.
	Message string `json:"message"`
	// Hosts are the names concerned, if any.
	Hosts []string `json:"hosts,omitempty"`
	// Addresses are the addresses concerned, if any.
	Addresses []string `json:"addresses,omitempty"`
}
