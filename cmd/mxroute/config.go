package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mxroute/mxroute/internal/cache"
	"github.com/mxroute/mxroute/internal/check"
	"github.com/mxroute/mxroute/internal/events"
	"github.com/mxroute/mxroute/internal/feedback"
	"github.com/mxroute/mxroute/internal/handlers"
	"github.com/mxroute/mxroute/internal/mtasts"
	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/routing"
)

// config is every setting of the service. Each field's default is in the
// settings table below, next to its flag and environment variable.
type config struct {
	Listen         string
	MaxConnections int
	ReadTimeout    time.Duration
	IdleTimeout    time.Duration

	DNSServers    []string
	ZoneFiles     []string
	DNSTimeout    time.Duration
	DNSBudget     time.Duration
	CacheMiB      int
	CacheMinTTL   time.Duration
	CacheMaxTTL   time.Duration
	CacheStaleFor time.Duration
	StaleAfter    time.Duration
	FailureTTL    time.Duration

	DNSSECValidating bool
	// DANE is "auto" (on when DNSSECValidating is), "true" or "false".
	DANE string

	MaxAttempts    int
	AddressOrder   routing.AddressOrder
	AllowMXToIP    bool
	IgnoreNetworks []netip.Prefix
	BlockPrivate   bool
	LocalNames     []string
	LocalAddresses []netip.Addr

	MTASTS              bool
	MTASTSCAFile        string
	MTASTSTimeout       time.Duration
	MTASTSPort          int
	MTASTSAllowLoopback bool

	RedisURL            string
	RedisSentinelAddrs  []string
	RedisSentinelMaster string
	RedisClusterAddrs   []string
	RedisPassword       string
	RedisNamespace      string

	AuthTokensFile  string
	FeedbackRate    int
	CheckRate       int
	CheckMaxRunning int
	BufferSize      int
	CoalesceWindow  time.Duration
	OutageAfter     time.Duration
	SpoolDir        string
	EventStreams    int
	ClientStreams   int
	StreamLifetime  time.Duration
	TraceUIURL      string

	VoteFailures      int
	VoteTTL           time.Duration
	Quorum            int
	HealthyVeto       float64
	BaseDemotion      time.Duration
	MaxDemotion       time.Duration
	RecoveryReporters int
	BudgetMin         int
	BudgetFraction    float64
	MaxAddresses      int
	ReporterNewAddrs  int
	DrainLimit        int

	ShutdownGrace time.Duration
	ShutdownDelay time.Duration
	LogLevel      string
}

// setting is one configuration knob: a flag, an environment variable and
// a default, with the parser that stores it.
type setting struct {
	flag, env, def, usage string
	set                   func(c *config, v string) error
}

// settings lists every knob. Defaults are the packages' own Default*()
// values, formatted, so that a default is stated once.
func settings() []setting {
	dp := feedback.DefaultPolicy()
	return []setting{
		{"listen", "MXROUTE_LISTEN", ":8080", "HTTP listen address", func(c *config, v string) error { c.Listen = v; return nil }},
		{"http-max-connections", "MXROUTE_HTTP_MAX_CONNECTIONS", strconv.Itoa(defaultMaxConnections), "open client connections at most; beyond it new ones wait in the listen backlog", intSetter(func(c *config) *int { return &c.MaxConnections }, 1, 1_000_000)},
		{"http-read-timeout", "MXROUTE_HTTP_READ_TIMEOUT", defaultReadTimeout.String(), "time to read a whole request, body included; a body that has not arrived by then gets 408", durationSetter(func(c *config) *time.Duration { return &c.ReadTimeout })},
		{"http-idle-timeout", "MXROUTE_HTTP_IDLE_TIMEOUT", defaultIdleTimeout.String(), "how long an idle keep-alive connection is kept open", durationSetter(func(c *config) *time.Duration { return &c.IdleTimeout })},
		{"dns-servers", "MXROUTE_DNS_SERVERS", "", "comma-separated upstream resolvers host:port (default: nameservers of /etc/resolv.conf)", func(c *config, v string) error {
			c.DNSServers = list(v)
			return nil
		}},
		{"zone-files", "MXROUTE_ZONE_FILES", "demo", `comma-separated RFC 1035 master files answered before the upstream resolvers; "demo" is the embedded demo zone, "none" disables local zones`, func(c *config, v string) error {
			c.ZoneFiles = list(v)
			return nil
		}},
		{"dns-timeout", "MXROUTE_DNS_TIMEOUT", resolver.DefaultTimeout.String(), "timeout of one DNS query attempt", durationSetter(func(c *config) *time.Duration { return &c.DNSTimeout })},
		{"dnssec-validating", "MXROUTE_DNSSEC_VALIDATING", strconv.FormatBool(resolver.DefaultValidating), "the upstream resolvers validate DNSSEC and the path to them is trusted (loopback, IPsec): their AD bit is believed", boolSetter(func(c *config) *bool { return &c.DNSSECValidating })},
		{"dane", "MXROUTE_DANE", "auto", "look up TLSA _25._tcp.<mx> and put DNSSEC-validated records in plans (DANE, RFC 7672): true, false, or auto (on when MXROUTE_DNSSEC_VALIDATING is)", func(c *config, v string) error {
			switch v {
			case "auto", "true", "false":
				c.DANE = v
				return nil
			}
			return errors.New("must be auto, true or false")
		}},
		{"dns-budget", "MXROUTE_DNS_BUDGET", resolver.DefaultBudget.String(), "total time one lookup may take across servers, retries and CNAMEs", durationSetter(func(c *config) *time.Duration { return &c.DNSBudget })},
		{"cache-memory", "MXROUTE_CACHE_MEMORY", strconv.FormatInt(cache.DefaultMaxBytes>>20, 10), "MiB of DNS answers cached at most (the default holds about 525,000 domains)", intSetter(func(c *config) *int { return &c.CacheMiB }, 1, 1<<20)},
		{"cache-min-ttl", "MXROUTE_CACHE_MIN_TTL", cache.DefaultMinTTL.String(), "shortest time a DNS answer is cached (0s: no floor)", durationSetter(func(c *config) *time.Duration { return &c.CacheMinTTL })},
		{"cache-max-ttl", "MXROUTE_CACHE_MAX_TTL", cache.DefaultMaxTTL.String(), "longest time a DNS answer is cached", durationSetter(func(c *config) *time.Duration { return &c.CacheMaxTTL })},
		{"cache-stale-answer-after", "MXROUTE_CACHE_STALE_ANSWER_AFTER", cache.DefaultStaleAnswerAfter.String(), "when a refresh of an expired answer has not come back within this, serve the stale answer and let the refresh finish in the background (RFC 8767 client response timer; 0s: always wait)", durationSetter(func(c *config) *time.Duration { return &c.StaleAfter })},
		{"cache-failure-ttl", "MXROUTE_CACHE_FAILURE_TTL", cache.DefaultFailureTTL.String(), "how long an upstream failure is remembered: stale answers are served meanwhile without asking, and unknown names fail temporarily (RFC 8767 failure recheck timer; 0s: never remembered)", durationSetter(func(c *config) *time.Duration { return &c.FailureTTL })},
		{"cache-stale-for", "MXROUTE_CACHE_STALE_FOR", cache.DefaultStaleFor.String(), "how long past expiry an answer is served when every upstream fails (RFC 8767; 0s: never)", durationSetter(func(c *config) *time.Duration { return &c.CacheStaleFor })},

		{"max-attempts", "MXROUTE_MAX_ATTEMPTS", strconv.Itoa(routing.DefaultOptions().MaxAttempts), "default bound on addresses per plan (within the contract's max_attempts bounds); a request may ask for another", intSetter(func(c *config) *int { return &c.MaxAttempts }, handlers.ContractBounds().MaxAttempts.Min, handlers.ContractBounds().MaxAttempts.Max)},
		{"address-order", "MXROUTE_ADDRESS_ORDER", "presented", "order of one host's addresses: presented (RFC 5321) or random", func(c *config, v string) error {
			switch o := routing.AddressOrder(v); o {
			case routing.OrderPresented, routing.OrderRandom:
				c.AddressOrder = o
				return nil
			}
			return errors.New("must be presented or random")
		}},
		{"allow-mx-to-ip", "MXROUTE_ALLOW_MX_TO_IP", "true", "use an MX target written as an address (as Postfix does) instead of skipping it (as Exim does)", boolSetter(func(c *config) *bool { return &c.AllowMXToIP })},
		{"ignore-networks", "MXROUTE_IGNORE_NETWORKS", "default", `comma-separated CIDR prefixes never dialled; "default" is loopback, unspecified, link-local, multicast, reserved and their IPv6 forms; "none" allows all`, func(c *config, v string) error {
			switch v {
			case "default":
				c.IgnoreNetworks = routing.DefaultIgnoreNetworks
				return nil
			case "none", "":
				c.IgnoreNetworks = []netip.Prefix{}
				return nil
			}
			c.IgnoreNetworks = nil
			for _, s := range list(v) {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					return err
				}
				c.IgnoreNetworks = append(c.IgnoreNetworks, p.Masked())
			}
			return nil
		}},
		{"block-private", "MXROUTE_BLOCK_PRIVATE", "false", "also skip RFC 1918, RFC 6598 and ULA addresses", boolSetter(func(c *config) *bool { return &c.BlockPrivate })},
		{"local-names", "MXROUTE_LOCAL_NAMES", "", "this mail system's host names, for the RFC 5321 self-loop rule", func(c *config, v string) error {
			c.LocalNames = nil
			for _, n := range list(v) {
				c.LocalNames = append(c.LocalNames, strings.TrimSuffix(strings.ToLower(n), "."))
			}
			return nil
		}},
		{"local-addresses", "MXROUTE_LOCAL_ADDRESSES", "", "this mail system's addresses, for the self-loop rule", func(c *config, v string) error {
			c.LocalAddresses = nil
			for _, s := range list(v) {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return err
				}
				c.LocalAddresses = append(c.LocalAddresses, a.Unmap())
			}
			return nil
		}},

		{"mta-sts", "MXROUTE_MTA_STS", "true", "look up each domain's MTA-STS policy (RFC 8461), cache it for the fleet and apply it in plans", boolSetter(func(c *config) *bool { return &c.MTASTS })},
		{"mta-sts-ca-file", "MXROUTE_MTA_STS_CA_FILE", "", "PEM file of the CAs that validate MTA-STS policy hosts (default: the system roots, WebPKI); for private deployments and tests", func(c *config, v string) error { c.MTASTSCAFile = v; return nil }},
		{"mta-sts-timeout", "MXROUTE_MTA_STS_TIMEOUT", mtasts.DefaultFetchTimeout.String(), "timeout of one MTA-STS policy fetch", durationSetter(func(c *config) *time.Duration { return &c.MTASTSTimeout })},
		{"mta-sts-port", "MXROUTE_MTA_STS_PORT", strconv.Itoa(mtasts.DefaultPort), "HTTPS port of policy hosts; only tests change it", intSetter(func(c *config) *int { return &c.MTASTSPort }, 1, 65535)},
		{"mta-sts-allow-loopback", "MXROUTE_MTA_STS_ALLOW_LOOPBACK", "false", "let policy fetches dial loopback addresses; only for tests", boolSetter(func(c *config) *bool { return &c.MTASTSAllowLoopback })},

		{"redis-url", "MXROUTE_REDIS_URL", "", "standalone Redis for shared health state, redis://[:password@]host:port/db (unset: in-memory, single instance)", func(c *config, v string) error { c.RedisURL = v; return nil }},
		{"redis-sentinel-addrs", "MXROUTE_REDIS_SENTINEL_ADDRS", "", "comma-separated Sentinel host:port list", func(c *config, v string) error { c.RedisSentinelAddrs = list(v); return nil }},
		{"redis-sentinel-master", "MXROUTE_REDIS_SENTINEL_MASTER", "", "Sentinel master name", func(c *config, v string) error { c.RedisSentinelMaster = v; return nil }},
		{"redis-cluster-addrs", "MXROUTE_REDIS_CLUSTER_ADDRS", "", "comma-separated Redis Cluster seed host:port list", func(c *config, v string) error { c.RedisClusterAddrs = list(v); return nil }},
		{"redis-password", "MXROUTE_REDIS_PASSWORD", "", "Redis password (Sentinel, Cluster; overrides the URL's)", func(c *config, v string) error { c.RedisPassword = v; return nil }},
		{"redis-namespace", "MXROUTE_REDIS_NAMESPACE", "", "prefix of every Redis key and of the pub/sub channel; deployments sharing a Redis need distinct ones (default: mxr:db<DB number>)", func(c *config, v string) error {
			if strings.ContainsAny(v, "{} ") {
				return errors.New("must not contain braces or spaces")
			}
			c.RedisNamespace = v
			return nil
		}},

		{"auth-tokens-file", "MXROUTE_AUTH_TOKENS_FILE", "", "file of `token reporter-name role` lines (roles sender, admin; a name of at most " + strconv.Itoa(handlers.ContractBounds().Reporter) + " bytes); re-read on SIGHUP and when it changes; unset: no authentication, reporter from X-Mxroute-Reporter (at most as long as a name; longer is a 400), else the client address", func(c *config, v string) error { c.AuthTokensFile = v; return nil }},
		{"feedback-rate", "MXROUTE_FEEDBACK_RATE", strconv.Itoa(handlers.DefaultFeedbackRate), "POST /feedback requests per second allowed per reporter", intSetter(func(c *config) *int { return &c.FeedbackRate }, 1, 1_000_000)},
		{"check-rate", "MXROUTE_CHECK_RATE", strconv.Itoa(handlers.DefaultCheckRate), "GET /check requests per minute allowed per client (token name, else address); beyond it 429", intSetter(func(c *config) *int { return &c.CheckRate }, 1, 1_000_000)},
		{"check-max-running", "MXROUTE_CHECK_MAX_RUNNING", strconv.Itoa(check.DefaultMaxRunning), "layout checks running at once on a replica (each tens of DNS queries); beyond it 429", intSetter(func(c *config) *int { return &c.CheckMaxRunning }, 1, 10_000)},
		{"spool-dir", "MXROUTE_SPOOL_DIR", "", "directory keeping buffered reports across restarts: what a full buffer would drop and what is left at shutdown is written there and replayed at the next start (unset: dropped and counted)", func(c *config, v string) error { c.SpoolDir = v; return nil }},
		{"feedback-coalesce", "MXROUTE_FEEDBACK_COALESCE", feedback.DefaultCoalesceWindow.String(), "while several POST /feedback wait on each other, the shortest time between two Redis calls: their reports go in one script call per address", durationSetter(func(c *config) *time.Duration { return &c.CoalesceWindow })},
		{"feedback-outage-after", "MXROUTE_FEEDBACK_OUTAGE_AFTER", feedback.DefaultOutageAfter.String(), "Redis answering nothing for this long is an outage: reports then fill the whole buffer; before, a failing or slow Redis gets 503 overloaded once half the buffer waits", durationSetter(func(c *config) *time.Duration { return &c.OutageAfter })},
		{"feedback-buffer", "MXROUTE_FEEDBACK_BUFFER", strconv.Itoa(feedback.DefaultBufferSize), "reports buffered in memory while Redis is unreachable; beyond it the oldest are dropped", intSetter(func(c *config) *int { return &c.BufferSize }, 1, 100_000_000)},

		{"event-streams", "MXROUTE_EVENT_STREAMS", strconv.Itoa(events.DefaultMaxStreams), "concurrent GET /events streams per replica (the console holds one per open fleet page); beyond it 503", intSetter(func(c *config) *int { return &c.EventStreams }, 1, 100_000)},
		{"event-streams-per-client", "MXROUTE_EVENT_STREAMS_PER_CLIENT", strconv.Itoa(events.DefaultMaxClientStreams), "concurrent GET /events streams of one client (token name, else address) per replica, so that one client cannot take every stream; a console tab holds one; beyond it 429", intSetter(func(c *config) *int { return &c.ClientStreams }, 1, 100_000)},
		{"event-stream-lifetime", "MXROUTE_EVENT_STREAM_LIFETIME", events.DefaultLifetime.String(), "longest life of a GET /events stream (each ends up to a tenth earlier); the server ends it cleanly and the client reconnects with Last-Event-ID", durationSetter(func(c *config) *time.Duration { return &c.StreamLifetime })},
		{"trace-ui-url", "MXROUTE_TRACE_UI_URL", "", "link from the console's route explorer to a trace, with {trace_id} replaced by the plan's route_id, e.g. https://grafana.example/explore?...{trace_id}; unset: no link", func(c *config, v string) error {
			if v != "" && !strings.Contains(v, "{trace_id}") {
				return errors.New("must contain {trace_id}")
			}
			c.TraceUIURL = v
			return nil
		}},

		{"vote-failures", "MXROUTE_HEALTH_VOTE_FAILURES", strconv.Itoa(dp.VoteFailures), "consecutive host failures after which a reporter votes an address down", intSetter(func(c *config) *int { return &c.VoteFailures }, 1, 1000)},
		{"vote-ttl", "MXROUTE_HEALTH_VOTE_TTL", dp.VoteTTL.String(), "a vote expires this long after its last failure", durationSetter(func(c *config) *time.Duration { return &c.VoteTTL })},
		{"quorum", "MXROUTE_HEALTH_QUORUM", strconv.Itoa(dp.QuorumReporters), "distinct reporters voting down that demote an address", intSetter(func(c *config) *int { return &c.Quorum }, 1, 1000)},
		{"healthy-veto", "MXROUTE_HEALTH_VETO", fmtFloat(dp.HealthyVeto), "no demotion while more than this share of reporters saw the address succeed after their last failure", floatSetter(func(c *config) *float64 { return &c.HealthyVeto })},
		{"base-demotion", "MXROUTE_HEALTH_BASE_DEMOTION", dp.BaseDemotion.String(), "first demotion's length; each re-demotion adds as much again", durationSetter(func(c *config) *time.Duration { return &c.BaseDemotion })},
		{"max-demotion", "MXROUTE_HEALTH_MAX_DEMOTION", dp.MaxDemotion.String(), "longest demotion", durationSetter(func(c *config) *time.Duration { return &c.MaxDemotion })},
		{"recovery-reporters", "MXROUTE_HEALTH_RECOVERY_REPORTERS", strconv.Itoa(dp.RecoveryReporters), "distinct reporters whose host successes end a demotion early", intSetter(func(c *config) *int { return &c.RecoveryReporters }, 1, 1000)},
		{"budget-min", "MXROUTE_HEALTH_BUDGET_MIN", strconv.Itoa(dp.BudgetMin), "demoted addresses always allowed before the demotion budget applies", intSetter(func(c *config) *int { return &c.BudgetMin }, 0, 1<<30)},
		{"budget-fraction", "MXROUTE_HEALTH_BUDGET_FRACTION", fmtFloat(dp.BudgetFraction), "share of the addresses seen in 10 minutes that may be demoted at once", floatSetter(func(c *config) *float64 { return &c.BudgetFraction })},

		{"max-addresses", "MXROUTE_HEALTH_MAX_ADDRESSES", strconv.Itoa(dp.MaxAddresses), "addresses with health state at most; beyond it a new address evicts one fewer than quorum reporters speak of (see reporter-new-addresses), or its reports are dropped and counted (about 0.5-1 KB each in memory, 1-2.5 KB in Redis)", intSetter(func(c *config) *int { return &c.MaxAddresses }, 1, 100_000_000)},

		{"reporter-new-addresses", "MXROUTE_HEALTH_REPORTER_NEW_ADDRESSES", strconv.Itoa(dp.ReporterNewAddresses), "new addresses one reporter may bring in per 10 minutes while the health state holds max-addresses, each evicting an address fewer than quorum reporters speak of; beyond it that reporter's new addresses are dropped", intSetter(func(c *config) *int { return &c.ReporterNewAddrs }, 0, 100_000_000)},

		{"drain-limit", "MXROUTE_DRAIN_LIMIT", strconv.Itoa(feedback.DefaultDrainLimit), "addresses drained at once at most; a drain beyond it answers 409 (renewals always pass); GET /hosts shows the count against it", intSetter(func(c *config) *int { return &c.DrainLimit }, 1, 100_000_000)},

		{"shutdown-grace", "MXROUTE_SHUTDOWN_GRACE", "20s", "time to finish requests and flush reports on SIGTERM", durationSetter(func(c *config) *time.Duration { return &c.ShutdownGrace })},
		{"shutdown-delay", "MXROUTE_SHUTDOWN_DELAY", defaultShutdownDelay.String(), "on SIGTERM, how long /readyz answers 503 \"shutting down\" while the listener still serves, before it closes (within the grace period)", durationSetter(func(c *config) *time.Duration { return &c.ShutdownDelay })},
		{"log-level", "MXROUTE_LOG_LEVEL", "info", "debug, info, warn or error", func(c *config, v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return errors.New("must be debug, info, warn or error")
		}},
	}
}

// dane reports whether plans use DANE: only with a validating resolver,
// since an unvalidated TLSA record proves nothing (RFC 7672 section 2.2).
func (c *config) dane() bool {
	return c.DNSSECValidating && c.DANE != "false"
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func durationSetter(f func(*config) *time.Duration) func(*config, string) error {
	return func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < 0 {
			return errors.New("must not be negative")
		}
		*f(c) = d
		return nil
	}
}

func intSetter(f func(*config) *int, lo, hi int) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("must be an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be between %d and %d", lo, hi)
		}
		*f(c) = n
		return nil
	}
}

func floatSetter(f func(*config) *float64) func(*config, string) error {
	return func(c *config, v string) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 || x > 1 {
			return errors.New("must be a number between 0 and 1")
		}
		*f(c) = x
		return nil
	}
}

func boolSetter(f func(*config) *bool) func(*config, string) error {
	return func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		*f(c) = b
		return nil
	}
}

// parseConfig applies defaults, then the environment, then flags, so a
// flag beats a variable beats the default. It returns the remaining
// arguments.
func parseConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (*config, []string, error) {
	c := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ss := settings()
	for _, s := range ss {
		if err := s.set(c, s.def); err != nil {
			return nil, nil, fmt.Errorf("default of -%s: %w", s.flag, err)
		}
	}
	for _, s := range ss {
		if v := getenv(s.env); v != "" {
			if err := s.set(c, v); err != nil {
				return nil, nil, fmt.Errorf("%s=%q: %w", s.env, v, err)
			}
		}
	}
	for _, s := range ss {
		fs.Func(s.flag, fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def), func(v string) error { return s.set(c, v) })
	}
	fs.Usage = func() { usage(stderr, ss) }
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if err := c.validate(); err != nil {
		return nil, nil, err
	}
	return c, fs.Args(), nil
}

// validate checks what no single setting can check alone.
func (c *config) validate() error {
	modes := 0
	for _, set := range []bool{c.RedisURL != "", len(c.RedisSentinelAddrs) > 0, len(c.RedisClusterAddrs) > 0} {
		if set {
			modes++
		}
	}
	switch {
	case modes > 1:
		return errors.New("set one of MXROUTE_REDIS_URL, MXROUTE_REDIS_SENTINEL_ADDRS and MXROUTE_REDIS_CLUSTER_ADDRS")
	case len(c.RedisSentinelAddrs) > 0 && c.RedisSentinelMaster == "":
		return errors.New("MXROUTE_REDIS_SENTINEL_ADDRS needs MXROUTE_REDIS_SENTINEL_MASTER")
	case c.MaxDemotion < c.BaseDemotion:
		return errors.New("MXROUTE_HEALTH_MAX_DEMOTION is shorter than MXROUTE_HEALTH_BASE_DEMOTION")
	case c.DNSTimeout <= 0 || c.DNSBudget < c.DNSTimeout:
		return errors.New("MXROUTE_DNS_TIMEOUT must be positive and no longer than MXROUTE_DNS_BUDGET")
	case c.ReadTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("MXROUTE_HTTP_READ_TIMEOUT and MXROUTE_HTTP_IDLE_TIMEOUT must be positive")
	case c.ShutdownDelay >= c.ShutdownGrace:
		return errors.New("MXROUTE_SHUTDOWN_DELAY must be shorter than MXROUTE_SHUTDOWN_GRACE")
	case c.ShutdownGrace < time.Second:
		return errors.New("MXROUTE_SHUTDOWN_GRACE must be at least 1s")
	case c.DANE == "true" && !c.DNSSECValidating:
		return errors.New("MXROUTE_DANE=true needs MXROUTE_DNSSEC_VALIDATING=true: without a validating resolver no TLSA answer can be trusted")
	case c.CacheMaxTTL < c.CacheMinTTL:
		return errors.New("MXROUTE_CACHE_MAX_TTL is shorter than MXROUTE_CACHE_MIN_TTL")
	}
	return nil
}

func usage(w io.Writer, ss []setting) {
	fmt.Fprint(w, `Usage:
  mxroute [flags]               serve HTTP (GET /route, POST /feedback, /hosts, /check, /metrics)
  mxroute route [flags] DOMAIN  print the delivery plan for DOMAIN
  mxroute check [flags] DOMAIN  grade DOMAIN's MX layout for load balancing and failover

Every setting is a flag and an environment variable; a flag wins.
OpenTelemetry is configured by the standard OTEL_* variables
(OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, ...).

`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tENVIRONMENT\tDEFAULT\tMEANING")
	for _, s := range ss {
		fmt.Fprintf(tw, "-%s\t%s\t%s\t%s\n", s.flag, s.env, s.def, s.usage)
	}
	tw.Flush()
}
