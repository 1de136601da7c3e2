package feedback

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
)

// DefaultDrainLimit is Options.DrainLimit's default: room for a large
// maintenance, while a script looping over a provider's address space
// stops long before it drains the fleet's world.
const DefaultDrainLimit = 10_000

// HostQuery selects a page of non-healthy addresses.
type HostQuery struct {
	// State is StateDemoted, StateDrained, or "" for both.
	State State
	// Prefix, when valid, keeps only the addresses inside it.
	Prefix netip.Prefix
	// After, when valid, starts the page after this address (the last
	// one of the previous page).
	After netip.Addr
	// Limit is the page size (api/openapi.yaml bounds it), at least 1.
	Limit int
}

// HostPage is one page of ListHosts.
type HostPage struct {
	Hosts []HostStatus
	// Next is the address to pass as HostQuery.After for the next page;
	// invalid on the last page.
	Next netip.Addr
	// Drained and DrainLimit say how close drains are to their limit.
	Drained, DrainLimit int
}

// DrainLimitError refuses a drain beyond Options.DrainLimit.
type DrainLimitError struct {
	Limit, Drained int
}

// Error implements error.
func (e *DrainLimitError) Error() string {
	return fmt.Sprintf("%d addresses are drained, the limit is %d: undrain some or raise MXROUTE_DRAIN_LIMIT", e.Drained, e.Limit)
}

// ListHosts returns a page of the non-healthy addresses, in address
// order. The addresses come from the routing view, which is ordered and
// holds exactly the non-healthy addresses, so a page costs O(log n +
// limit) whatever the number of them; their records are then read from
// the store in one call, and an address whose record no longer matches
// the filter (the view lags the store by a push) is left out of the page.
// The listing is the same code for every store.
func (s *Service) ListHosts(ctx context.Context, q HostQuery) (HostPage, error) {
	switch {
	case q.State != "" && q.State != StateDemoted && q.State != StateDrained:
		return HostPage{}, &FieldError{Field: "state", Reason: fmt.Sprintf("%q is not demoted or drained", q.State)}
	case q.Limit < 1:
		return HostPage{}, &FieldError{Field: "limit", Reason: "must be at least 1"}
	}
	now := s.now()
	v := s.view.load()
	page := HostPage{Drained: v.drained, DrainLimit: s.opts.DrainLimit}
	items, more := v.list(normalAddr(q.After), q.Prefix, q.State, now, q.Limit)
	if more {
		page.Next = items[len(items)-1].addr
	}
	if len(items) == 0 {
		return page, nil
	}
	addrs := make([]netip.Addr, len(items))
	for i, it := range items {
		addrs[i] = it.addr
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	all, err := s.store.Statuses(sctx, addrs, now, s.policy)
	if err != nil {
		s.storeFailed(ctx, "hosts", err)
		return HostPage{}, fmt.Errorf("list hosts: %w", err)
	}
	page.Hosts = slices.DeleteFunc(all, func(st HostStatus) bool {
		return st.State != q.State && (q.State != "" || st.State == StateHealthy)
	})
	return page, nil
}

// checkDrainLimit refuses a new drain when Options.DrainLimit addresses
// are drained already, as this replica's view counts them (drains through
// other replicas arrive by push within milliseconds; drains racing on
// several replicas at once may pass the limit by the number racing).
// Renewing a drain is always allowed.
func (s *Service) checkDrainLimit(addr netip.Addr) error {
	v := s.view.load()
	if v.drained < s.opts.DrainLimit {
		return nil
	}
	if e, ok := v.get(addr); ok && e.state == StateDrained {
		return nil
	}
	return &DrainLimitError{Limit: s.opts.DrainLimit, Drained: v.drained}
}
