package fleetgen

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// WriteCSV writes the fleet as CSV: a header of Columns, then one row per asset.
func WriteCSV(w io.Writer, o Options) error {
	return writeCSV(w, o, false)
}

// WriteTrainingCSV writes the fleet as CSV with the label: TrainingColumns,
// fault being 1 for an asset that fails within the horizon, else 0.
func WriteTrainingCSV(w io.Writer, o Options) error {
	return writeCSV(w, o, true)
}

func writeCSV(w io.Writer, o Options, label bool) error {
	if err := o.validate(); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	header := Columns()
	if label {
		header = TrainingColumns()
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("fleetgen: write csv header: %w", err)
	}
	for r := range Rows(o) {
		rec := r.record()
		if label {
			rec = append(rec, strconv.Itoa(b2i(r.Fault)))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("fleetgen: write csv row %s: %w", r.AssetID, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("fleetgen: flush csv: %w", err)
	}
	return nil
}

// WriteJSONL writes the fleet as JSON Lines: one object per asset with the
// keys of Columns in order; asset_id and site are strings, the rest numbers.
func WriteJSONL(w io.Writer, o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for r := range Rows(o) {
		if err := enc.Encode(r.jsonRecord()); err != nil {
			return fmt.Errorf("fleetgen: write jsonl row %s: %w", r.AssetID, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("fleetgen: flush jsonl: %w", err)
	}
	return nil
}

// record formats r in the order of Columns.
func (r Row) record() []string {
	rec := []string{r.AssetID, r.Site}
	for _, v := range r.numbers() {
		rec = append(rec, strconv.FormatFloat(v, 'f', -1, 64))
	}
	return rec
}

// numbers are r's numeric columns in the order of Columns.
func (r Row) numbers() []float64 {
	return []float64{r.H2, r.CH4, r.C2H2, r.C2H4, r.C2H6, r.CO, r.CO2,
		r.AgeYears, r.LoadPct, r.OutageCost, r.CrewHours, r.RepairCost}
}

// jsonRow fixes the key order of a JSONL object to that of Columns.
type jsonRow struct {
	AssetID    string  `json:"asset_id"`
	Site       string  `json:"site"`
	H2         float64 `json:"h2"`
	CH4        float64 `json:"ch4"`
	C2H2       float64 `json:"c2h2"`
	C2H4       float64 `json:"c2h4"`
	C2H6       float64 `json:"c2h6"`
	CO         float64 `json:"co"`
	CO2        float64 `json:"co2"`
	AgeYears   float64 `json:"age_years"`
	LoadPct    float64 `json:"load_pct"`
	OutageCost float64 `json:"outage_cost"`
	CrewHours  float64 `json:"crew_hours"`
	RepairCost float64 `json:"repair_cost"`
}

func (r Row) jsonRecord() jsonRow {
	return jsonRow{r.AssetID, r.Site, r.H2, r.CH4, r.C2H2, r.C2H4, r.C2H6, r.CO, r.CO2,
		r.AgeYears, r.LoadPct, r.OutageCost, r.CrewHours, r.RepairCost}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
