// Package fleetgen generates a synthetic fleet of power transformers with
// dissolved-gas analysis (DGA) readings, the input of examples/fleet.
//
// Every asset gets a hidden condition (healthy, or one of the IEC 60599 fault
// types PD, D1, D2, T1, T2, T3) whose probability grows with age and load.
// Its gases are a healthy background (rising with age) plus a fault signature
// whose ratios C2H2/C2H4, CH4/H2 and C2H4/C2H6 fall in the IEC 60599 band of
// that fault type, so the reading lands in the matching Duval triangle zone,
// plus laboratory noise and detection limits. The label fault (a failure
// within the planning horizon) is drawn with the probability the diagnostics
// of the observed reading imply (FaultProbability) shifted by unobserved
// factors. Output is deterministic for a seed; with the same Sites, the first
// n rows do not depend on Rows.
package fleetgen

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
)

// Options sizes the fleet.
type Options struct {
	Rows  int   // number of assets
	Sites int   // number of sites the assets are spread over (unevenly)
	Seed  int64 // same seed, same fleet
}

func (o Options) validate() error {
	if o.Rows < 0 {
		return fmt.Errorf("fleetgen: rows must be >= 0, got %d", o.Rows)
	}
	if o.Sites < 1 || o.Sites > 999 {
		return fmt.Errorf("fleetgen: sites must be between 1 and 999, got %d", o.Sites)
	}
	return nil
}

// Conditions an asset can be in; Row.Condition holds one of them.
const (
	ConditionNormal = "normal"
	ConditionPD     = "PD"
	ConditionD1     = "D1"
	ConditionD2     = "D2"
	ConditionT1     = "T1"
	ConditionT2     = "T2"
	ConditionT3     = "T3"
)

// Row is one asset. Gases are in ppm.
type Row struct {
	AssetID    string
	Site       string
	H2         float64
	CH4        float64
	C2H2       float64
	C2H4       float64
	C2H6       float64
	CO         float64
	CO2        float64
	AgeYears   float64
	LoadPct    float64
	OutageCost float64 // cost of an unplanned outage, USD
	CrewHours  float64 // crew time a repair takes
	RepairCost float64 // cost of a planned repair, USD

	// Fault is the label: the asset fails within the horizon. Written only
	// by WriteTrainingCSV.
	Fault bool
	// Condition is the hidden ground truth the gases were generated from;
	// it is never written.
	Condition string
}

// Columns are the input columns of examples/fleet, in order.
func Columns() []string {
	return []string{"asset_id", "site", "h2", "ch4", "c2h2", "c2h4", "c2h6", "co", "co2",
		"age_years", "load_pct", "outage_cost", "crew_hours", "repair_cost"}
}

// TrainingColumns are Columns followed by the label column fault.
func TrainingColumns() []string { return append(Columns(), "fault") }

// Rows yields the fleet described by o. Invalid options yield nothing; the
// writers report them as errors.
func Rows(o Options) iter.Seq[Row] {
	return func(yield func(Row) bool) {
		if o.validate() != nil {
			return
		}
		g := newGenerator(o)
		for i := range o.Rows {
			if !yield(g.row(i)) {
				return
			}
		}
	}
}

type site struct {
	name       string
	weight     float64 // share of the fleet
	ageMedian  float64 // years
	loadMedian float64 // percent of rating
	mvaMedian  float64 // rating, MVA: urban substations are bigger
	outageRate float64 // USD of outage cost per MVA (customers, criticality)
	remoteness float64 // multiplier of crew hours (travel, access)
	labour     float64 // multiplier of repair cost
}

type generator struct {
	rng   *rand.Rand
	sites []site
	cum   []float64 // cumulative site weights, for sampling
}

func newGenerator(o Options) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x7061727469746121))}
	total := 0.0
	for i := range o.Sites {
		s := site{
			name:       fmt.Sprintf("site-%02d", i+1),
			weight:     g.lognormal(1, 0.5),
			ageMedian:  12 + 23*g.rng.Float64(),
			loadMedian: 50 + 30*g.rng.Float64(),
			mvaMedian:  g.lognormal(40, 0.6),
			outageRate: g.lognormal(2500, 0.5),
			remoteness: 0.8 + 0.8*g.rng.Float64(),
			labour:     g.lognormal(1, 0.2),
		}
		total += s.weight
		g.sites = append(g.sites, s)
		g.cum = append(g.cum, total)
	}
	return g
}

func (g *generator) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*g.rng.NormFloat64())
}

func (g *generator) pickSite() site {
	u := g.rng.Float64() * g.cum[len(g.cum)-1]
	for i, c := range g.cum {
		if u < c {
			return g.sites[i]
		}
	}
	return g.sites[len(g.sites)-1]
}

// signature is the relative amount of each gas a fault produces (H2 = 1) and
// the median ppm of H2 it adds. The ratios sit inside the IEC 60599 table 1
// bands of the fault type; the comment gives C2H2/C2H4, CH4/H2, C2H4/C2H6 and
// the Duval triangle shares %CH4/%C2H4/%C2H2.
type signature struct {
	h2Median                    float64
	ch4, c2h2, c2h4, c2h6       float64
	paperShare                  float64 // probability the fault also heats paper (extra CO)
	conditionWeight, loadFactor float64 // prior weight among faults, and its growth with load
}

var signatures = map[string]signature{
	// <0.1, 0.05, 0.02 → 99/1/0: PD
	ConditionPD: {h2Median: 600, ch4: 0.05, c2h2: 0.0003, c2h4: 0.0005, c2h6: 0.03, conditionWeight: 0.12},
	// 3.3, 0.25, 1.5 → 32/16/52: D1
	ConditionD1: {h2Median: 120, ch4: 0.25, c2h2: 0.4, c2h4: 0.12, c2h6: 0.08, conditionWeight: 0.12},
	// 1.1, 0.35, 7.5 → 27/35/38: D2
	ConditionD2: {h2Median: 220, ch4: 0.35, c2h2: 0.5, c2h4: 0.45, c2h6: 0.06, paperShare: 0.35, conditionWeight: 0.10},
	// 0.03, 2, 0.23 → 85/15/0: T1
	ConditionT1: {h2Median: 35, ch4: 2, c2h2: 0.01, c2h4: 0.35, c2h6: 1.5, paperShare: 0.35, conditionWeight: 0.26, loadFactor: 0.02},
	// 0.02, 2.5, 2 → 61/39/1: T2
	ConditionT2: {h2Median: 45, ch4: 2.5, c2h2: 0.03, c2h4: 1.6, c2h6: 0.8, paperShare: 0.35, conditionWeight: 0.22, loadFactor: 0.02},
	// 0.03, 2, 7 → 36/62/2: T3
	ConditionT3: {h2Median: 60, ch4: 2, c2h2: 0.12, c2h4: 3.5, c2h6: 0.5, paperShare: 0.35, conditionWeight: 0.18, loadFactor: 0.02},
}

// faultConditions fixes the order in which fault types are sampled, so the
// output does not depend on map iteration.
var faultConditions = []string{ConditionPD, ConditionD1, ConditionD2, ConditionT1, ConditionT2, ConditionT3}

func (g *generator) condition(age, load float64) string {
	if g.rng.Float64() >= sigmoid(-1.3+0.045*(age-25)+0.03*(load-65)) {
		return ConditionNormal
	}
	weights := make([]float64, len(faultConditions))
	total := 0.0
	for i, c := range faultConditions {
		s := signatures[c]
		weights[i] = s.conditionWeight * math.Exp(s.loadFactor*(load-65))
		total += weights[i]
	}
	u := g.rng.Float64() * total
	for i, w := range weights {
		if u < w {
			return faultConditions[i]
		}
		u -= w
	}
	return faultConditions[len(faultConditions)-1]
}

func (g *generator) row(i int) Row {
	s := g.pickSite()
	r := Row{
		AssetID:  fmt.Sprintf("TX-%06d", i+1),
		Site:     s.name,
		AgeYears: clamp(math.Round(s.ageMedian+10*g.rng.NormFloat64()), 1, 60),
		LoadPct:  round(clamp(s.loadMedian+15*g.rng.NormFloat64(), 10, 130), 0.1),
	}
	r.Condition = g.condition(r.AgeYears, r.LoadPct)

	// Healthy background: oil and paper ageing under load.
	ageing := 1 + r.AgeYears/30
	h2 := g.lognormal(20, 0.6)
	ch4 := g.lognormal(8, 0.6) * ageing
	c2h2 := g.lognormal(0.2, 1.0)
	c2h4 := g.lognormal(2.5, 0.7) * ageing
	c2h6 := g.lognormal(6, 0.7) * ageing
	co := g.lognormal(120, 0.5) * ageing * (0.7 + r.LoadPct/200)
	co2 := co * g.lognormal(8, 0.3)

	if sig, ok := signatures[r.Condition]; ok {
		fh2 := g.lognormal(sig.h2Median, 0.8)
		h2 += fh2
		ch4 += fh2 * sig.ch4 * g.lognormal(1, 0.25)
		c2h2 += fh2 * sig.c2h2 * g.lognormal(1, 0.25)
		c2h4 += fh2 * sig.c2h4 * g.lognormal(1, 0.25)
		c2h6 += fh2 * sig.c2h6 * g.lognormal(1, 0.25)
		if g.rng.Float64() < sig.paperShare {
			extra := g.lognormal(450, 0.5)
			co += extra
			co2 += extra * g.lognormal(1.5, 0.3)
		}
	}

	// Laboratory: about 8 % measurement noise, detection limits, 0.1 ppm.
	r.H2 = g.measure(h2, 2)
	r.CH4 = g.measure(ch4, 1)
	r.C2H2 = g.measure(c2h2, 0.5)
	r.C2H4 = g.measure(c2h4, 1)
	r.C2H6 = g.measure(c2h6, 1)
	r.CO = g.measure(co, 5)
	r.CO2 = g.measure(co2, 10)

	mva := clamp(g.lognormal(s.mvaMedian, 0.7), 2.5, 500)
	r.OutageCost = math.Round(mva * s.outageRate * g.lognormal(1, 0.35))
	r.CrewHours = round((12+6*math.Sqrt(mva))*s.remoteness*g.lognormal(1, 0.2), 0.5)
	r.RepairCost = round((8000+1500*math.Pow(mva, 0.8))*s.labour*g.lognormal(1, 0.3), 10)

	// Unobserved factors (bushings, tap changer, through-faults) and an
	// active fault whose gases have not risen yet.
	logit := riskLogit(r) + 0.6*g.rng.NormFloat64()
	if r.Condition != ConditionNormal {
		logit += 0.5
	}
	r.Fault = g.rng.Float64() < sigmoid(logit)
	return r
}

func (g *generator) measure(v, detectionLimit float64) float64 {
	v *= g.lognormal(1, 0.08)
	if v < detectionLimit {
		return 0
	}
	return round(v, 0.1)
}

// round rounds v to a multiple of step. Fractional steps divide by an
// integer, so 12.3 comes out as the float64 nearest to 12.3, not as
// 123*0.1 = 12.300000000000001.
func round(v, step float64) float64 {
	if step >= 1 {
		return math.Round(v/step) * step
	}
	n := math.Round(1 / step)
	return math.Round(v*n) / n
}

func clamp(v, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, v)) }
