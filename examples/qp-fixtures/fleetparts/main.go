// Command fleetparts writes the parts of examples/fleet jobs that
// gen_fleet_qps.py turns into fleet-shaped QP fixtures: for each selected
// part, the columns the optimize stage reads (risk, outage_cost, crew_hours,
// repair_cost) of its rows, as JSON on stdout.
//
//	go run ./examples/qp-fixtures/fleetparts [-ort tools/lib/libonnxruntime.so.1] > parts.json
//
// A fleet is fleetgen's (200000 rows, 50 sites, a seed) and a job's parts are
// the splitter's: rows grouped by site, a part cut when its site has
// max_rows rows, the rest at the end in order of each site's first row
// (services/splitter's Grouper; restated here so that the fixtures do not
// depend on that package). Parts are numbered from 0 in that order, as in
// the job's error messages.
//
// Two kinds of parts are written:
//
//   - "logistic": seeds 7, 8 and 9, max_rows 50 … 5000, the first parts of
//     exactly max_rows rows; risk is the logistic baseline
//     examples/fleet/model/dga-risk.logistic.json (a fixed function of the
//     features, so no ONNX Runtime is needed);
//   - "onnx": parts of the 200k-row reference job (seed 7) scored by the
//     model dga-risk.onnx through libs/onnxrt, as the scorer does (float32
//     features, the float32 score formatted with 'g'); among them part 401
//     of the max_rows 200 split, which ended max_iter after 20000
//     iterations before the solver changes that these fixtures test. They
//     need -ort (or PARTITA_ORT_LIB); -ort none skips them.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/partita/partita/examples/fleet/fleetgen"
	"github.com/partita/partita/libs/onnxrt"
)

// Part is one part's optimize inputs.
type Part struct {
	Name       string    `json:"name"`
	Risk       string    `json:"risk_model"` // "logistic" or "onnx"
	Seed       int64     `json:"seed"`
	MaxRows    int       `json:"max_rows"`
	Index      int       `json:"part"`
	Site       string    `json:"site"`
	RiskScores []float64 `json:"risk"`
	OutageCost []float64 `json:"outage_cost"`
	CrewHours  []float64 `json:"crew_hours"`
	RepairCost []float64 `json:"repair_cost"`
}

// logisticParts lists how many parts of exactly max_rows rows to take per
// seed.
var logisticParts = []struct{ maxRows, count int }{
	{50, 6}, {100, 6}, {200, 6}, {500, 3}, {1000, 2}, {2000, 1}, {5000, 1},
}

// onnxParts are parts of the reference job (seed 7): part 401 and 783 of
// the max_rows 200 split and parts 0 and 64 of the max_rows 5000 split (the
// reference spec), all of which ended max_iter before.
var onnxParts = []struct{ maxRows, index int }{
	{200, 401}, {200, 783}, {5000, 64}, {5000, 0},
}

const (
	fleetRows  = 200000
	fleetSites = 50
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleetparts:", err)
		os.Exit(1)
	}
}

func run() error {
	ort := flag.String("ort", os.Getenv("PARTITA_ORT_LIB"), "ONNX Runtime library for the onnx parts; none to skip them")
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	var parts []Part
	model, err := loadLogistic(filepath.Join(*root, "examples/fleet/model/dga-risk.logistic.json"))
	if err != nil {
		return err
	}
	for _, seed := range []int64{7, 8, 9} {
		rows := fleet(seed)
		for _, lp := range logisticParts {
			taken := 0
			for idx, part := range split(rows, lp.maxRows) {
				if len(part) != lp.maxRows || taken == lp.count {
					continue
				}
				taken++
				risk := make([]float64, len(part))
				for i, r := range part {
					risk[i] = float32String(model.score(features(r)))
				}
				parts = append(parts, newPart(fmt.Sprintf("logistic-s%d-m%d-p%d", seed, lp.maxRows, idx), "logistic", seed, lp.maxRows, idx, part, risk))
			}
			if taken < lp.count {
				return fmt.Errorf("seed %d: only %d parts of %d rows", seed, taken, lp.maxRows)
			}
		}
	}
	if *ort != "none" {
		if *ort == "" {
			return errors.New("set -ort or PARTITA_ORT_LIB to libonnxruntime.so.1 (make onnxruntime), or -ort none")
		}
		more, err := scoredParts(*ort, filepath.Join(*root, "examples/fleet/model/dga-risk.onnx"))
		if err != nil {
			return err
		}
		parts = append(parts, more...)
	}
	enc := json.NewEncoder(os.Stdout)
	return enc.Encode(map[string]any{"fleet_rows": fleetRows, "fleet_sites": fleetSites, "parts": parts})
}

func fleet(seed int64) []fleetgen.Row {
	var rows []fleetgen.Row
	for r := range fleetgen.Rows(fleetgen.Options{Rows: fleetRows, Sites: fleetSites, Seed: seed}) {
		rows = append(rows, r)
	}
	return rows
}

// split groups rows into parts as the splitter does.
func split(rows []fleetgen.Row, maxRows int) [][]fleetgen.Row {
	var parts [][]fleetgen.Row
	var order []string
	open := map[string][]fleetgen.Row{}
	for _, r := range rows {
		cur, seen := open[r.Site]
		if !seen {
			order = append(order, r.Site)
		}
		cur = append(cur, r)
		if len(cur) >= maxRows {
			parts = append(parts, cur)
			cur = nil
		}
		open[r.Site] = cur
	}
	for _, site := range order {
		if rest := open[site]; len(rest) > 0 {
			parts = append(parts, rest)
		}
	}
	return parts
}

func features(r fleetgen.Row) []float64 {
	return []float64{r.H2, r.CH4, r.C2H2, r.C2H4, r.C2H6, r.CO, r.CO2, r.AgeYears, r.LoadPct}
}

// float32String rounds v to float32 and back through its shortest decimal
// form, as the scorer writes a score into the part.
func float32String(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(float32(v)), 'g', -1, 32), 64)
	return f
}

func newPart(name, risk string, seed int64, maxRows, idx int, rows []fleetgen.Row, scores []float64) Part {
	p := Part{Name: name, Risk: risk, Seed: seed, MaxRows: maxRows, Index: idx, Site: rows[0].Site, RiskScores: scores}
	for _, r := range rows {
		p.OutageCost = append(p.OutageCost, r.OutageCost)
		p.CrewHours = append(p.CrewHours, r.CrewHours)
		p.RepairCost = append(p.RepairCost, r.RepairCost)
	}
	return p
}

// logistic is examples/fleet/model/dga-risk.logistic.json:
// p = sigmoid(bias + Σ wᵢ (xᵢ − meanᵢ) / scaleᵢ).
type logistic struct {
	Mean    []float64 `json:"mean"`
	Scale   []float64 `json:"scale"`
	Weights []float64 `json:"weights"`
	Bias    float64   `json:"bias"`
}

func loadLogistic(path string) (*logistic, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m logistic
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(m.Mean) != 9 || len(m.Scale) != 9 || len(m.Weights) != 9 {
		return nil, fmt.Errorf("%s: want 9 features", path)
	}
	return &m, nil
}

func (m *logistic) score(x []float64) float64 {
	z := m.Bias
	for i, v := range x {
		z += m.Weights[i] * (v - m.Mean[i]) / m.Scale[i]
	}
	return 1 / (1 + math.Exp(-z))
}

// scoredParts writes the onnx parts of the reference job.
func scoredParts(lib, modelPath string) ([]Part, error) {
	if err := onnxrt.Init(lib); err != nil {
		return nil, err
	}
	model, err := os.ReadFile(modelPath)
	if err != nil {
		return nil, err
	}
	sess, err := onnxrt.NewSession(model, onnxrt.SessionOptions{IntraOpThreads: 1})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	rows := fleet(7)
	splits := map[int][][]fleetgen.Row{}
	var parts []Part
	for _, op := range onnxParts {
		if splits[op.maxRows] == nil {
			splits[op.maxRows] = split(rows, op.maxRows)
		}
		part := splits[op.maxRows][op.index]
		x := make([]float32, 0, 9*len(part))
		for _, r := range part {
			for _, v := range features(r) {
				// The scorer parses the CSV text with 32-bit precision.
				f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', -1, 64), 32)
				x = append(x, float32(f))
			}
		}
		y, err := sess.Predict(x, len(part), 9)
		if err != nil {
			return nil, err
		}
		scores := make([]float64, len(y))
		for i, v := range y {
			scores[i] = float32String(float64(v))
		}
		parts = append(parts, newPart(fmt.Sprintf("onnx-s7-m%d-p%d", op.maxRows, op.index), "onnx", 7, op.maxRows, op.index, part, scores))
	}
	return parts, nil
}
