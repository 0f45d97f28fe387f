package bench

import (
	"encoding/json"
	"math"
	"slices"
)

// Result is one line of `partita bench` output.
type Result struct {
	Scenario     string         `json:"scenario"`
	Params       map[string]any `json:"parameters"`
	Metric       string         `json:"metric"`
	Value        float64        `json:"value"`
	Unit         string         `json:"unit"`
	Baseline     float64        `json:"baseline"`
	BaselineUnit string         `json:"baseline_unit"`
	BaselineDesc string         `json:"baseline_desc"`
	Ratio        float64        `json:"ratio"`
	Runs         int            `json:"runs"`
	Mark         string         `json:"mark,omitempty"`
	MarkMet      *bool          `json:"mark_met,omitempty"`
	Note         string         `json:"note,omitempty"`
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// median of xs (xs is not changed).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile of xs, p in [0,100] (nearest rank).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func met(ok bool) *bool { return &ok }

func sortStrings(s []string) { slices.Sort(s) }
