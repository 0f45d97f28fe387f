package fleetgen

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func generate(t *testing.T, write func(io.Writer, Options) error, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf, o); err != nil {
		t.Fatalf("write %+v: %v", o, err)
	}
	return buf.Bytes()
}

func readCSV(t *testing.T, data []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("read csv: %v", err)
	}
	return recs
}

func TestDeterministicForSeed(t *testing.T) {
	o := Options{Rows: 300, Sites: 8, Seed: 7}
	for name, write := range map[string]func(io.Writer, Options) error{
		"csv": WriteCSV, "jsonl": WriteJSONL, "training": WriteTrainingCSV,
	} {
		a, b := generate(t, write, o), generate(t, write, o)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs with seed %d differ", name, o.Seed)
		}
		other := o
		other.Seed++
		if bytes.Equal(a, generate(t, write, other)) {
			t.Errorf("%s: seeds %d and %d give the same fleet", name, o.Seed, other.Seed)
		}
	}
}

func TestLongerFleetExtendsShorter(t *testing.T) {
	short := slices.Collect(Rows(Options{Rows: 50, Sites: 5, Seed: 3}))
	long := slices.Collect(Rows(Options{Rows: 200, Sites: 5, Seed: 3}))
	if !slices.Equal(short, long[:len(short)]) {
		t.Error("the first 50 rows of a 200-row fleet differ from a 50-row fleet with the same seed")
	}
}

func TestCSVColumnsAndRows(t *testing.T) {
	want := []string{"asset_id", "site", "h2", "ch4", "c2h2", "c2h4", "c2h6", "co", "co2",
		"age_years", "load_pct", "outage_cost", "crew_hours", "repair_cost"}
	id := regexp.MustCompile(`^TX-\d{6}$`)
	site := regexp.MustCompile(`^site-\d{2}$`)
	for _, rows := range []int{0, 1, 500} {
		recs := readCSV(t, generate(t, WriteCSV, Options{Rows: rows, Sites: 8, Seed: 1}))
		if !slices.Equal(recs[0], want) {
			t.Fatalf("header = %v, want %v", recs[0], want)
		}
		if got := len(recs) - 1; got != rows {
			t.Fatalf("%d data rows, want %d", got, rows)
		}
		sites := map[string]int{}
		for i, rec := range recs[1:] {
			if len(rec) != len(want) {
				t.Fatalf("row %d has %d fields, want %d", i, len(rec), len(want))
			}
			if !id.MatchString(rec[0]) || !site.MatchString(rec[1]) {
				t.Errorf("row %d: asset_id %q / site %q malformed", i, rec[0], rec[1])
			}
			sites[rec[1]]++
			for j, s := range rec[2:] {
				v, err := strconv.ParseFloat(s, 64)
				if err != nil || v < 0 {
					t.Errorf("row %d column %s = %q, want a number >= 0", i, want[j+2], s)
				}
			}
		}
		if rows == 500 {
			if len(sites) != 8 {
				t.Errorf("500 rows cover %d sites, want 8", len(sites))
			}
			lo, hi := rows, 0
			for _, n := range sites {
				lo, hi = min(lo, n), max(hi, n)
			}
			if hi < 2*lo {
				t.Errorf("site sizes %v are too even for a real fleet", sites)
			}
		}
	}
}

func TestTrainingCSVAddsLabel(t *testing.T) {
	o := Options{Rows: 2000, Sites: 8, Seed: 42}
	plain := readCSV(t, generate(t, WriteCSV, o))
	training := readCSV(t, generate(t, WriteTrainingCSV, o))
	if want := append(slices.Clone(plain[0]), "fault"); !slices.Equal(training[0], want) {
		t.Fatalf("header = %v, want %v", training[0], want)
	}
	positives := 0
	for i := 1; i < len(training); i++ {
		rec := training[i]
		if !slices.Equal(rec[:len(rec)-1], plain[i]) {
			t.Fatalf("row %d differs from the plain CSV", i)
		}
		switch rec[len(rec)-1] {
		case "1":
			positives++
		case "0":
		default:
			t.Fatalf("row %d: fault = %q, want 0 or 1", i, rec[len(rec)-1])
		}
	}
	if rate := float64(positives) / float64(o.Rows); rate < 0.05 || rate > 0.3 {
		t.Errorf("fault rate %.3f outside the plausible 5–30 %%", rate)
	}
}

func TestJSONLMatchesCSV(t *testing.T) {
	o := Options{Rows: 200, Sites: 4, Seed: 9}
	recs := readCSV(t, generate(t, WriteCSV, o))
	lines := strings.Split(strings.TrimSuffix(string(generate(t, WriteJSONL, o)), "\n"), "\n")
	if len(lines) != o.Rows {
		t.Fatalf("%d lines, want %d", len(lines), o.Rows)
	}
	for i, line := range lines {
		keys, values := decodeOrdered(t, line)
		if !slices.Equal(keys, recs[0]) {
			t.Fatalf("line %d keys = %v, want %v", i, keys, recs[0])
		}
		for j, v := range values {
			want := recs[i+1][j]
			switch x := v.(type) {
			case string:
				if j >= 2 || x != want {
					t.Errorf("line %d %s = string %q, want %s", i, keys[j], x, want)
				}
			case json.Number:
				if j < 2 || x.String() != want {
					t.Errorf("line %d %s = number %s, want %s", i, keys[j], x, want)
				}
			default:
				t.Errorf("line %d %s has type %T", i, keys[j], v)
			}
		}
	}
}

// decodeOrdered decodes one flat JSON object keeping its key order.
func decodeOrdered(t *testing.T, line string) ([]string, []any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%q: not a JSON object (%v)", line, err)
	}
	var keys []string
	var values []any
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		v, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		keys, values = append(keys, k.(string)), append(values, v)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		t.Fatalf("%q: unterminated object (%v)", line, err)
	}
	if dec.More() {
		t.Fatalf("%q: trailing data", line)
	}
	return keys, values
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []Options{{Rows: -1, Sites: 8}, {Rows: 10, Sites: 0}, {Rows: 10, Sites: 1000}} {
		for name, write := range map[string]func(io.Writer, Options) error{
			"csv": WriteCSV, "jsonl": WriteJSONL, "training": WriteTrainingCSV,
		} {
			var buf bytes.Buffer
			if err := write(&buf, o); err == nil || buf.Len() != 0 {
				t.Errorf("%s %+v: err = %v, %d bytes written; want an error and no output", name, o, err, buf.Len())
			}
		}
		for range Rows(o) {
			t.Fatalf("Rows(%+v) yielded a row", o)
		}
	}
}

func TestDuvalZone(t *testing.T) {
	for _, tc := range []struct {
		ch4, c2h4, c2h2 float64
		want            string
	}{
		{99, 0.5, 0.5, ZonePD},
		{85, 14, 1, ZoneT1},
		{60, 38, 2, ZoneT2},
		{35, 60, 5, ZoneT3},
		{40, 15, 45, ZoneD1},
		{30, 35, 35, ZoneD2},
		{20, 45, 35, ZoneD2},
		{40, 45, 15, ZoneDT},
		{0, 0, 0, ZoneNone},
	} {
		if got := DuvalZone(tc.ch4, tc.c2h4, tc.c2h2); got != tc.want {
			t.Errorf("DuvalZone(%v, %v, %v) = %s, want %s", tc.ch4, tc.c2h4, tc.c2h2, got, tc.want)
		}
	}
}

func TestIECRatioCode(t *testing.T) {
	for _, tc := range []struct {
		h2, ch4, c2h2, c2h4, c2h6 float64
		want                      string
	}{
		{500, 25, 0, 1, 20, ZonePD},
		{100, 25, 40, 12, 8, ZoneD1},
		{100, 35, 50, 45, 6, ZoneD2},
		{30, 60, 0.3, 10, 45, ZoneT1},
		{40, 100, 1, 64, 32, ZoneT2},
		{50, 100, 6, 175, 25, ZoneT3},
		{0, 0, 0, 0, 0, ""},
	} {
		if got := IECRatioCode(tc.h2, tc.ch4, tc.c2h2, tc.c2h4, tc.c2h6); got != tc.want {
			t.Errorf("IECRatioCode(%v, %v, %v, %v, %v) = %q, want %q",
				tc.h2, tc.ch4, tc.c2h2, tc.c2h4, tc.c2h6, got, tc.want)
		}
	}
}

// TestFaultSignatures checks that the gases of each hidden fault type are
// diagnosed as that type for a good share of assets, and that faulty assets
// fail more often than healthy ones.
func TestFaultSignatures(t *testing.T) {
	type stat struct{ n, diagnosed, failed int }
	stats := map[string]*stat{}
	for r := range Rows(Options{Rows: 20000, Sites: 8, Seed: 42}) {
		s := stats[r.Condition]
		if s == nil {
			s = &stat{}
			stats[r.Condition] = s
		}
		s.n++
		if Diagnose(r) == r.Condition {
			s.diagnosed++
		}
		if r.Fault {
			s.failed++
		}
	}
	healthy := stats[ConditionNormal]
	healthyRate := float64(healthy.failed) / float64(healthy.n)
	for _, c := range faultConditions {
		s := stats[c]
		if s == nil || s.n < 100 {
			t.Fatalf("%s: %v assets, want at least 100 of 20000", c, s)
		}
		if share := float64(s.diagnosed) / float64(s.n); share < 0.4 {
			t.Errorf("%s: only %.2f of its readings are diagnosed as %s", c, share, c)
		}
		if rate := float64(s.failed) / float64(s.n); rate <= healthyRate {
			t.Errorf("%s: failure rate %.3f not above the healthy rate %.3f", c, rate, healthyRate)
		}
	}
}

func ExampleWriteCSV() {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, Options{Rows: 2, Sites: 8, Seed: 1}); err != nil {
		fmt.Println(err)
	}
	fmt.Print(strings.SplitN(buf.String(), "\n", 2)[0])
	// Output: asset_id,site,h2,ch4,c2h2,c2h4,c2h6,co,co2,age_years,load_pct,outage_cost,crew_hours,repair_cost
}
