package chaos

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Report is every run of a suite.
type Report struct {
	Seed uint64   `json:"seed"`
	Rows int      `json:"rows"`
	Runs []Result `json:"runs"`
}

// row is the table's line of one topology and fault kind.
type row struct {
	topology                Topology
	fault                   Fault
	runs, succeeded, stuck  int
	rowsLost, rowsDoubled   int
	eventsMissing           int
	deliveriesLost, doubled int
	redelivered             int
	took                    []time.Duration
}

// Table writes the report as a markdown table per topology and fault kind:
// runs, outcomes, losses and duplicates, and the p50/p99 time to complete
// next to the no-fault median.
func (r *Report) Table(w io.Writer) {
	var rows []*row
	find := func(t Topology, f Fault) *row {
		for _, x := range rows {
			if x.topology == t && x.fault == f {
				return x
			}
		}
		x := &row{topology: t, fault: f}
		rows = append(rows, x)
		return x
	}
	base := map[Topology][]time.Duration{}
	for _, res := range r.Runs {
		x := find(res.Topology, res.Fault)
		x.runs++
		if res.Status == "succeeded" && len(res.problems()) == 0 {
			x.succeeded++
		}
		if res.Stuck {
			x.stuck++
		}
		x.rowsLost += res.RowsLost
		x.rowsDoubled += res.RowsDoubled
		if res.EventMissing {
			x.eventsMissing++
		}
		x.deliveriesLost += res.DeliveriesLost
		x.doubled += res.DeliveriesDoubled
		x.redelivered += res.Redelivered
		if !res.Stuck {
			x.took = append(x.took, res.Took)
		}
		if res.Fault == NoFault {
			base[res.Topology] = append(base[res.Topology], res.Took)
		}
	}
	fmt.Fprintf(w, "| NATS | fault | runs | clean | stuck | rows lost | rows doubled | final events missing | deliveries lost | deliveries doubled | redelivered after a cut | p50 s | p99 s | no-fault p50 s |\n")
	fmt.Fprintf(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, x := range rows {
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.2f | %.2f | %.2f |\n",
			x.topology, x.fault, x.runs, x.succeeded, x.stuck, x.rowsLost, x.rowsDoubled, x.eventsMissing,
			x.deliveriesLost, x.doubled, x.redelivered,
			Quantile(x.took, 0.5).Seconds(), Quantile(x.took, 0.99).Seconds(), Quantile(base[x.topology], 0.5).Seconds())
	}
}

// Quantile is the q-quantile (nearest rank) of ds; 0 for none.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}
