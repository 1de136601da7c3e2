package resolver

import "errors"

// Sentinel errors. Lookup and Exchange wrap them with the query and server
// ("lookup MX example.com. via 127.0.0.1:53: ..."), so callers test them
// with errors.Is. A negative answer (NXDOMAIN, NODATA) is never an error: it
// is an Answer, because a cache must store it while it must not store these.
var (
	// ErrServFail reports a SERVFAIL response.
	ErrServFail = errors.New("server failure (SERVFAIL)")
	// ErrRefused reports a REFUSED response.
	ErrRefused = errors.New("query refused (REFUSED)")
	// ErrTimeout reports that a query attempt or the whole lookup budget ran
	// out before an answer came.
	ErrTimeout = errors.New("dns query timed out")
	// ErrNoServers reports a Config, or a resolv.conf, without servers.
	ErrNoServers = errors.New("no dns servers configured")
	// ErrCNAMELoop reports a CNAME chain longer than Config.MaxCNAME or one
	// that comes back to a name it already passed through.
	ErrCNAMELoop = errors.New("cname chain too long or looping")
	// ErrBadResponse reports a reply that cannot be used: it failed to
	// parse, answers another question, or carries an rcode other than
	// NOERROR, NXDOMAIN, SERVFAIL or REFUSED (FORMERR, NOTIMP, ...).
	ErrBadResponse = errors.New("unusable dns response")
	// ErrInvalidName reports a name that is not a syntactically valid
	// domain name.
	ErrInvalidName = errors.New("invalid domain name")
)
