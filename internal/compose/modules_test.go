package compose

import (
	"slices"
	"testing"

	"github.com/partita/partita/libs/lifecycle"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Both shapes resolve through one table: `all` is every service with every
// adapter, and each service alone gets only the adapters it declares.
func TestTargetsResolveToTheirModules(t *testing.T) {
	table := modules()
	all, err := resolve(table, []string{All})
	require.NoError(t, err)
	assert.Equal(t, []string{modNATS, modBus, modState, modStore, Ingest, modTracker, Splitter, modONNX, modRegistry, Scorer,
		Optimizer, Aggregator, Webhooks, Gateway}, all)

	cases := map[string][]string{
		Ingest:     {modNATS, modBus, modState, modStore, Ingest},
		Splitter:   {modNATS, modBus, modState, modStore, modTracker, Splitter},
		Scorer:     {modNATS, modBus, modONNX, modStore, modRegistry, modState, modTracker, Scorer},
		Optimizer:  {modNATS, modBus, modState, modStore, modTracker, Optimizer},
		Aggregator: {modNATS, modBus, modState, modStore, modTracker, Aggregator},
		Webhooks:   {modNATS, modBus, modState, Webhooks},
		Gateway:    {modNATS, modBus, modONNX, modState, modStore, modRegistry, Gateway},
	}
	for target, want := range cases {
		got, err := resolve(table, []string{target})
		require.NoError(t, err, target)
		assert.Equal(t, want, got, target)
	}
	assert.NotContains(t, cases[Webhooks], modStore, "the dispatcher needs no artifact store")
	assert.NotContains(t, cases[Ingest], modRegistry, "ingest needs no model registry")
}

func TestEveryModuleStartsAfterItsDependencies(t *testing.T) {
	table := modules()
	for _, targets := range [][]string{{All}, {Gateway, Ingest}, {Aggregator, Scorer}} {
		order, err := resolve(table, targets)
		require.NoError(t, err)
		for i, name := range order {
			for _, d := range table[name].deps {
				j := slices.Index(order, d)
				require.GreaterOrEqual(t, j, 0, "%s needs %s", name, d)
				assert.Less(t, j, i, "%s starts after %s", name, d)
			}
		}
	}
	// Services start in pipeline order whatever order they are named in: the gateway last.
	order, err := resolve(table, []string{Gateway, Ingest})
	require.NoError(t, err)
	assert.Greater(t, slices.Index(order, Gateway), slices.Index(order, Ingest))
}

func TestUnknownTargetAndCycle(t *testing.T) {
	_, err := resolve(modules(), []string{"scorer", "bogus"})
	assert.ErrorContains(t, err, `unknown target "bogus"`)

	cyclic := map[string]module{"a": {deps: []string{"b"}, init: nopInit}, "b": {deps: []string{"a"}, init: nopInit}}
	_, err = resolve(cyclic, []string{"a"})
	assert.ErrorContains(t, err, "cycle")
}

func TestBuildComposesWithoutStarting(t *testing.T) {
	cfg := &Config{}
	cfg.Platform.DataDir = t.TempDir()
	p, err := Build(cfg, []string{Webhooks}, zerolog.Nop(), Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{modNATS, modBus, modState, Webhooks}, p.Modules())
	assert.Nil(t, p.JetStream(), "constructors connect nothing")
	assert.Error(t, p.Ready(), "not ready before it runs")
	assert.Empty(t, p.GatewayAddr())
}

var nopInit = func(*composition) lifecycle.Service { return nil }
