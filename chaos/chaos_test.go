package chaos_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partita/partita/chaos"
	"github.com/partita/partita/internal/testbin"
)

// TestShortSeededSubset is the part of `make chaos` that runs in `make
// test`: a small fleet job per run, each fault kind once on a single node,
// and the cluster's own faults (the events stream's leader killed at
// fan-in, a node killed mid-job, a node cut off) on three nodes. Any lost or doubled row,
// missing or doubled final event, stuck job or usage mismatch fails it.
func TestShortSeededSubset(t *testing.T) {
	ort := os.Getenv("PARTITA_ORT_LIB")
	require.NotEmpty(t, ort, "PARTITA_ORT_LIB is not set: run `make test` (it builds ONNX Runtime into tools/)")
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	bin := testbin.Partita(t)

	var progress strings.Builder
	single := []chaos.Fault{chaos.KillService, chaos.TermService, chaos.KillNATSNode, chaos.MinIODown,
		chaos.Webhook503, chaos.GatewayInWait, chaos.WebhooksInFlight}
	cluster := []chaos.Fault{chaos.KillEventsLeader, chaos.KillNATSNode, chaos.KillService, chaos.NATSPartition}
	var runs []chaos.Result
	for _, c := range []struct {
		topology chaos.Topology
		faults   []chaos.Fault
	}{{chaos.Single, single}, {chaos.Cluster, cluster}} {
		rep, err := chaos.Run(t.Context(), chaos.Options{
			Binary: bin, Repo: root, ORTLib: ort, Dir: t.TempDir(), Seed: 1,
			Runs: len(c.faults), Topologies: []chaos.Topology{c.topology}, Faults: c.faults, Baseline: 1,
			Rows: 5_000, PartRows: 500, MaxMinIODown: 5 * time.Second, Progress: &progress,
		})
		require.NoError(t, err, "runs:\n%s", progress.String())
		runs = append(runs, rep.Runs...)
	}
	t.Logf("runs:\n%s", progress.String())
	require.Len(t, runs, len(single)+len(cluster)+2, "a baseline and one run per fault kind on each topology")
	for _, r := range runs {
		require.Equal(t, "succeeded", r.Status, "%s run %d (%s)", r.Topology, r.N, r.Fault)
		if r.Fault != chaos.NoFault && r.Fault != chaos.Webhook503 {
			require.NotEmpty(t, r.Notes, "%s run %d: the fault %s was injected", r.Topology, r.N, r.Fault)
		}
	}
}
