package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"

	"github.com/mxroute/mxroute/internal/auth"
	"github.com/mxroute/mxroute/internal/check"
	"github.com/mxroute/mxroute/internal/console"
	"github.com/mxroute/mxroute/internal/events"
	"github.com/mxroute/mxroute/internal/feedback"
	"github.com/mxroute/mxroute/internal/gather"
	"github.com/mxroute/mxroute/internal/handlers"
	"github.com/mxroute/mxroute/internal/mtasts"
	"github.com/mxroute/mxroute/internal/redisconn"
	"github.com/mxroute/mxroute/internal/routing"
	"github.com/mxroute/mxroute/internal/telemetry"
)

// HTTP server bounds. A plan takes at most the DNS budget (5 s by default)
// and a check a little longer, so writes get 30 s; headers must arrive
// quickly so idle or slow clients cannot hold connections open. What one
// connection may hold is bounded by the header limit and the read
// timeout, and how many connections there are by maxConnections, so that
// slow or oversized clients cannot take the memory the fleet shares.
const (
	readHeaderTimeout = 5 * time.Second
	// defaultReadTimeout bounds reading a whole request, body included
	// (MXROUTE_HTTP_READ_TIMEOUT); a body that has not arrived by then is
	// a 408.
	defaultReadTimeout = 15 * time.Second
	writeTimeout       = 30 * time.Second
	// defaultIdleTimeout bounds an idle keep-alive connection
	// (MXROUTE_HTTP_IDLE_TIMEOUT). Go offers no per-client bound; with the
	// connection limit it bounds what idle clients can hold.
	defaultIdleTimeout = 60 * time.Second
	// maxHeaderBytes bounds a request's header block: the contract's
	// longest request line is a 1 KiB domain, and a bearer token is short.
	// Go's default is 1 MiB. Larger headers get 431.
	maxHeaderBytes = 16 << 10
	// defaultMaxConnections bounds open client connections
	// (MXROUTE_HTTP_MAX_CONNECTIONS); beyond it new connections wait in
	// the listen backlog until one closes. Each may hold up to
	// maxHeaderBytes of headers or MaxBody of body while it is read.
	defaultMaxConnections = 4096
	// defaultShutdownDelay is how long probes see 503 before the listener
	// closes on SIGTERM (MXROUTE_SHUTDOWN_DELAY): a few readiness probe
	// periods, so load balancers take the replica out first.
	defaultShutdownDelay = 5 * time.Second
)

// telemetryFlushReserve is the part of the shutdown grace period kept for
// flushing telemetry, so that a report flush stuck on a dead Redis cannot
// leave the exporters an expired context (and lose the spans saying why).
const telemetryFlushReserve = 2 * time.Second

func serve(ctx context.Context, cfg *config, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	tel, err := telemetry.Setup(ctx, getenv, telemetry.Options{LogWriter: stderr, LogLevel: logLevel(cfg.LogLevel)})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	// Telemetry is flushed last, whatever happens before: on the way out
	// of a failed start as much as after a clean drain.
	defer func() {
		flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetryFlushReserve)
		defer cancel()
		if terr := tel.Shutdown(flush); terr != nil {
			err = errors.Join(err, fmt.Errorf("flush telemetry: %w", terr))
		}
	}()
	a, closeAll, err := newApp(ctx, cfg, tel)
	defer func() { err = errors.Join(err, closeAll()) }()
	if err != nil {
		return err
	}
	return a.run(ctx, cfg, stdout)
}

// app is the server's dependencies, built by newApp and run by run.
type app struct {
	log     *slog.Logger
	dns     *dnsStack
	fb      *feedback.Service
	hub     *events.Hub
	sts     *mtasts.Cache
	ready   *readiness
	tokens  *auth.Tokens
	handler http.Handler
}

// newApp builds every dependency of the server. The returned close
// releases what was built, in reverse order, even when err is not nil.
func newApp(ctx context.Context, cfg *config, tel *telemetry.Telemetry) (a *app, closeAll func() error, err error) {
	var closers []func() error
	closeAll = func() error {
		var cerr error
		for i := len(closers) - 1; i >= 0; i-- {
			cerr = errors.Join(cerr, closers[i]())
		}
		return cerr
	}
	a = &app{log: tel.Logger()}
	tp, mp := tel.TracerProvider(), tel.MeterProvider()
	if cfg.AuthTokensFile != "" {
		if a.tokens, err = auth.Load(cfg.AuthTokensFile, handlers.ContractBounds().Reporter); err != nil {
			return nil, closeAll, err
		}
	}
	if a.dns, err = newDNSStack(cfg, tp, mp); err != nil {
		return nil, closeAll, err
	}
	closers = append(closers, func() error { a.dns.close(); return nil })
	store, rdb, err := newStore(cfg, tp, mp)
	if err != nil {
		return nil, closeAll, err
	}
	if rdb != nil {
		closers = append(closers, func() error {
			if cerr := rdb.Close(); cerr != nil {
				return fmt.Errorf("close redis: %w", cerr)
			}
			return nil
		})
	}
	opts := planOptions(cfg)
	if err := a.buildFeedback(ctx, cfg, store, &opts, tp, mp); err != nil {
		return nil, closeAll, err
	}
	stsFetcher, err := newSTSFetcher(cfg, a.dns.cache, a.log)
	if err != nil {
		return nil, closeAll, err
	}
	a.sts = newSTSCache(cfg, stsFetcher, rdb, a.log)
	if err := a.buildHandler(cfg, tel, &opts, stsFetcher); err != nil {
		return nil, closeAll, err
	}
	return a, closeAll, nil
}

// newStore is the health store: in memory, or Redis when one is
// configured (then rdb is its client, for the other users of Redis).
func newStore(cfg *config, tp trace.TracerProvider, mp metric.MeterProvider) (feedback.Store, redis.UniversalClient, error) {
	rdb, err := redisClient(cfg)
	if err != nil || rdb == nil {
		return feedback.NewMemoryStore(feedback.MemoryOptions{}), nil, err
	}
	// Redis spans only inside requests (the resync and pub/sub loops
	// would otherwise make a root trace every few seconds), and without
	// statements, whose arguments carry reporter names and hosts.
	if err := errors.Join(
		redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(telemetry.ChildSpansOnly(tp)), redisotel.WithDBStatement(false)),
		// The pool's name, which redisotel would take from the
		// address, labels public metrics: no address in it.
		redisotel.InstrumentMetrics(rdb, redisotel.WithMeterProvider(mp), redisotel.WithPoolName("health"))); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("instrument redis: %w", err), rdb.Close())
	}
	return feedback.NewRedisStore(rdb, feedback.RedisOptions{Prefix: redisNamespace(cfg, rdb)}), rdb, nil
}

// buildFeedback makes the event hub and the feedback service on store,
// and reloads reports a previous run spooled.
func (a *app) buildFeedback(ctx context.Context, cfg *config, store feedback.Store, opts *routing.Options, tp trace.TracerProvider, mp metric.MeterProvider) error {
	a.hub = events.New(events.Options{MaxStreams: cfg.EventStreams, MaxClientStreams: cfg.ClientStreams, Lifetime: cfg.StreamLifetime})
	fb, err := feedback.NewService(store, feedback.Options{
		Policy: policy(cfg), BufferSize: cfg.BufferSize, CoalesceWindow: cfg.CoalesceWindow, OutageAfter: cfg.OutageAfter, DrainLimit: cfg.DrainLimit, Logger: a.log, TracerProvider: tp, MeterProvider: mp,
		OnTransition: a.hub.Publish,
		Undialable:   opts.NeverDials,
		SpoolDir:     cfg.SpoolDir,
	})
	if err != nil {
		return err
	}
	a.fb = fb
	if _, err := fb.LoadSpool(ctx); err != nil {
		a.log.Warn("spool partly unreadable", "err", err)
	}
	return nil
}

// buildHandler makes the planner, readiness, the check guard, the API
// router and the console in front of it.
func (a *app) buildHandler(cfg *config, tel *telemetry.Telemetry, opts *routing.Options, stsFetcher *mtasts.Fetcher) error {
	tp, mp := tel.TracerProvider(), tel.MeterProvider()
	planner, err := gather.New(a.dns.cache, gather.Config{
		STS:           stsPolicies(a.sts),
		DANE:          a.dns.dane,
		Options:       opts,
		Budget:        cfg.DNSBudget,
		Health:        a.fb.StateOf,
		MeterProvider: mp,
	})
	if err != nil {
		return err
	}
	a.ready = newReadiness(a.dns.probe, a.dns.client.Health, a.fb)
	checks, err := check.NewGuard(checker{dns: a.dns.client, opts: withSTS(checkOptions(a.dns, opts, tp, mp), stsFetcher)}.Check,
		check.GuardOptions{MaxRunning: cfg.CheckMaxRunning})
	if err != nil {
		return err
	}
	api := handlers.NewServer(handlers.Deps{
		Planner: planner, Reports: a.fb, Hosts: a.fb,
		Checker:      checks,
		CheckRate:    cfg.CheckRate,
		Readiness:    a.ready,
		Events:       a.hub,
		Tokens:       a.tokens,
		Metrics:      tel.MetricsHandler(),
		Middleware:   []func(http.Handler) http.Handler{telemetry.Middleware(tel, telemetry.MiddlewareOptions{Skip: handlers.Unobserved})},
		FeedbackRate: cfg.FeedbackRate,
		NeverDials:   opts.NeverDials,
		Logger:       a.log,
	})
	ui, err := console.New(console.Options{API: api, TraceURL: cfg.TraceUIURL})
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	a.handler = withConsole(api, ui)
	return nil
}

// run serves until ctx ends, with the background loops, then drains.
func (a *app) run(ctx context.Context, cfg *config, stdout io.Writer) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln = netutil.LimitListener(ln, cfg.MaxConnections)
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: min(readHeaderTimeout, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Event streams never end by themselves: end them when shutdown
	// starts, or Shutdown would wait for them until the grace runs out.
	srv.RegisterOnShutdown(a.hub.Close)

	// Background loops, started and stopped here and nowhere else.
	loops, stopLoops := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.fb.Run(loops); err != nil {
			a.log.Error("feedback loop stopped", "err", err)
		}
	})
	wg.Go(func() { a.ready.probeDNS(loops) })
	if a.sts != nil {
		wg.Go(func() { a.sts.Run(loops) })
	}
	wg.Go(func() { reloadTokens(loops, a.tokens, cfg.AuthTokensFile, a.log) })
	stop := func() { stopLoops(); wg.Wait() }

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	a.ready.setState(stateServing)
	a.log.Info("mxroute listening", "addr", ln.Addr().String(), "store", a.fb.Status().Store, "dns_servers", a.dns.client.Servers())
	fmt.Fprintf(stdout, "mxroute listening on %s\n", ln.Addr())

	select {
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return errors.Join(err, a.drain(ctx, cfg, srv, serveErr, stop))
}

// drain shuts down in order: stop taking requests and finish those in
// flight, then flush buffered reports to the store, then stop the loops
// and spool what is left; serve's deferred calls then close Redis and
// flush telemetry, which keeps a reserve of its own. A fresh context: ctx
// is done. Probes see 503 "shutting down" for ShutdownDelay while the
// listener still takes requests, so load balancers stop sending before it
// closes; then in-flight requests finish within the grace period.
func (a *app) drain(ctx context.Context, cfg *config, srv *http.Server, serveErr <-chan error, stopLoops func()) (err error) {
	// A second signal ends the shutdown from the first moment, the drain
	// delay included.
	hurry, hurryNow := context.WithCancel(context.WithoutCancel(ctx))
	defer hurryNow()
	stopOnSignal := hurryOnSecondSignal(hurryNow, a.log)
	defer stopOnSignal()
	a.ready.setState(stateDraining)
	if cfg.ShutdownDelay > 0 {
		a.log.Info("draining: /readyz answers 503 until the listener closes", "delay", cfg.ShutdownDelay)
		select {
		case <-time.After(cfg.ShutdownDelay):
		case <-hurry.Done():
		case err = <-serveErr:
		}
	}
	budget := cfg.ShutdownGrace - cfg.ShutdownDelay
	grace, cancel := context.WithTimeout(hurry, max(budget-telemetryFlushReserve, budget/2))
	defer cancel()
	if serr := srv.Shutdown(grace); serr != nil {
		err = errors.Join(err, fmt.Errorf("shutdown http: %w", serr))
	}
	// Whatever the flush could not deliver goes to the spool, if there is
	// one; only reports lost count as a failed shutdown.
	ferr := a.fb.Flush(grace)
	// The loops stop before the spill: the replay loop loads spool files
	// whenever the buffer is empty, and would take the spill back.
	stopLoops()
	left := a.fb.Status().Buffered
	spooled, lost, serr := a.fb.Spill(context.WithoutCancel(ctx))
	if lost > 0 {
		err = errors.Join(err, fmt.Errorf("flush reports: %w", errors.Join(ferr, serr)))
	}
	a.log.Info("mxroute stopped", "buffered_reports_left", left, "reports_spooled", spooled, "reports_lost", lost)
	return err
}

// hurryOnSecondSignal cuts the shutdown short when a second SIGTERM or
// interrupt comes: the operator wants the process gone, so requests and
// the flush are abandoned and what is still buffered goes to the spool
// (or is counted lost) at once. It returns the function that stops
// listening.
func hurryOnSecondSignal(cancel context.CancelFunc, log *slog.Logger) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			log.Warn("second signal: shutting down at once")
			cancel()
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}

// redisClient builds the Redis client for the configured mode, or nil for
// the in-memory store.
func redisClient(cfg *config) (redis.UniversalClient, error) {
	c, err := redisconn.New(redisconn.Config{
		URL: cfg.RedisURL, SentinelAddrs: cfg.RedisSentinelAddrs, SentinelMaster: cfg.RedisSentinelMaster,
		ClusterAddrs: cfg.RedisClusterAddrs, Password: cfg.RedisPassword,
	})
	if err != nil {
		return nil, fmt.Errorf("MXROUTE_REDIS_URL: %w", err)
	}
	return c, nil
}

func policy(cfg *config) feedback.Policy {
	p := feedback.DefaultPolicy()
	p.VoteFailures = cfg.VoteFailures
	p.VoteTTL = cfg.VoteTTL
	p.QuorumReporters = cfg.Quorum
	p.HealthyVeto = cfg.HealthyVeto
	p.BaseDemotion = cfg.BaseDemotion
	p.MaxDemotion = cfg.MaxDemotion
	p.RecoveryReporters = cfg.RecoveryReporters
	p.BudgetMin = cfg.BudgetMin
	p.BudgetFraction = cfg.BudgetFraction
	p.MaxAddresses = cfg.MaxAddresses
	// Drain limits are the contract's (api/openapi.yaml), stated there once.
	p.MinDrain, p.MaxDrain = handlers.ContractBounds().DrainDurations()
	p.ReporterNewAddresses = cfg.ReporterNewAddrs
	return p
}

// redisNamespace is the operator's namespace, or one naming the DB number
// (a Cluster has only DB 0), so that deployments in two DBs of one Redis
// do not share a pub/sub channel.
func redisNamespace(cfg *config, rdb redis.UniversalClient) string {
	if cfg.RedisNamespace != "" {
		return cfg.RedisNamespace
	}
	db := 0
	if c, ok := rdb.(*redis.Client); ok {
		db = c.Options().DB
	}
	return feedback.DefaultNamespace(db)
}

// tokensPollInterval is how often the tokens file's modification time is
// checked. Kubernetes updates a mounted Secret in place but never sends
// SIGHUP, so rotation must also work without the signal.
const tokensPollInterval = 30 * time.Second

// reloadTokens re-reads the tokens file on SIGHUP and when it changes, so
// tokens rotate without a restart.
func reloadTokens(ctx context.Context, tokens *auth.Tokens, path string, log *slog.Logger) {
	// SIGHUP is caught even without a tokens file: its default action
	// would kill the process without draining or flushing reports.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	poll := time.NewTicker(tokensPollInterval)
	defer poll.Stop()
	modTime := func() time.Time {
		if tokens == nil {
			return time.Time{}
		}
		fi, err := os.Stat(path)
		if err != nil {
			return time.Time{}
		}
		return fi.ModTime()
	}
	last := modTime()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if tokens == nil {
				log.Info("SIGHUP: no tokens file configured, nothing to reload")
				continue
			}
		case <-poll.C:
			if m := modTime(); m.IsZero() || m.Equal(last) {
				continue
			} else {
				last = m
			}
		}
		if err := tokens.Reload(); err != nil {
			log.Error("tokens not reloaded; the previous ones stay in force", "err", err)
			continue
		}
		log.Info("tokens reloaded", "count", tokens.Len())
	}
}

// checkOptions makes the layout check dial only what plans would (the
// configured never-dial filter) and answer local zones from their data.
func checkOptions(st *dnsStack, plan *routing.Options, tp trace.TracerProvider, mp metric.MeterProvider) check.Options {
	return check.Options{NeverDial: plan.NeverDials, Local: st.local.Contains, DANE: st.dane, TracerProvider: tp, MeterProvider: mp}
}

// checker adapts check.Run to the handler's Checker.
type checker struct {
	dns  check.Resolver
	opts check.Options
}

func (c checker) Check(ctx context.Context, domain string) (check.Report, error) {
	return check.Run(ctx, c.dns, domain, c.opts)
}

// withConsole serves the operator console at /ui/ next to the API. The
// console calls api in process, so it goes through the API's own
// authentication, limits and telemetry.
func withConsole(api, ui http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, "/ui/") {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
