package compose

import (
	"context"
	"os"
	"os/signal"
	"reflect"
	"syscall"
	"time"
)

// followConfig reads the configuration again every ConfigReloadEvery and
// on SIGHUP, and applies a changed tier table (tenants.Store.SetTiers:
// rates, jobs, rows, bytes and model limits at once, parts in flight as
// each stage updates its tenants' consumers) and price table. A change of
// any other section needs a restart; it is logged. A file that no longer
// loads is logged and the running configuration kept.
func (p *Process) followConfig(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(p.a.cfg.ConfigReloadEvery)
	defer t.Stop()
	cur := *p.a.cfg
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
		}
		if p.Ready() != nil {
			continue // still starting (or stopping): the stores are not there yet
		}
		next, err := p.reload()
		if err != nil {
			if err.Error() != lastErr {
				p.Log.Error().Err(err).Msg("configuration not reloaded; the running one is kept")
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		if !reflect.DeepEqual(next.Tiers, cur.Tiers) {
			if p.a.tenants != nil {
				if err := p.a.tenants.SetTiers(ctx, next.Tiers); err != nil {
					p.Log.Error().Err(err).Msg("tier table not applied")
					continue
				}
			}
			cur.Tiers = next.Tiers
			p.Log.Info().Int("tiers", len(next.Tiers)).Msg("tier table reloaded")
		}
		if !reflect.DeepEqual(next.Prices, cur.Prices) {
			p.a.prices.Store(next.Prices)
			cur.Prices = next.Prices
			p.Log.Info().Bool("priced", next.Prices != nil).Msg("price table reloaded")
		}
		rest, was := *next, cur
		rest.Tiers, rest.Prices, was.Tiers, was.Prices = nil, nil, nil, nil
		if !reflect.DeepEqual(rest, was) {
			p.Log.Warn().Msg("configuration changed beyond tiers and prices: restart the process to apply it")
			cur = *next // warn once per change
		}
	}
}
