package runtime

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDecodeInferResponse(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []float32
		err        string
	}{
		{"[rows]", `{"outputs":[{"name":"y","shape":[2],"datatype":"FP32","data":[0.25,0.5]}]}`, []float32{0.25, 0.5}, ""},
		{"[rows,1] nested", `{"outputs":[{"name":"y","shape":[2,1],"datatype":"FP64","data":[[0.25],[0.5]]}]}`, []float32{0.25, 0.5}, ""},
		{"[rows,2] takes column 1", `{"outputs":[{"name":"p","shape":[2,2],"datatype":"FP32","data":[0.9,0.1,0.3,0.7]}]}`, []float32{0.1, 0.7}, ""},
		{"first output", `{"outputs":[{"shape":[2],"data":[1,2]},{"shape":[2],"data":[3,4]}]}`, []float32{1, 2}, ""},
		{"no outputs", `{"outputs":[]}`, nil, "no outputs"},
		{"wrong rows", `{"outputs":[{"name":"y","shape":[3],"data":[1,2,3]}]}`, nil, "shape [3] for 2 rows"},
		{"too many columns", `{"outputs":[{"name":"y","shape":[2,3],"data":[1,2,3,4,5,6]}]}`, nil, "shape [2 3] for 2 rows"},
		{"data and shape disagree", `{"outputs":[{"name":"y","shape":[2,1],"data":[1]}]}`, nil, "has 1 values"},
		{"strings", `{"outputs":[{"name":"y","shape":[2],"datatype":"BYTES","data":["a","b"]}]}`, nil, "not an array of numbers"},
		{"not JSON", `<html>`, nil, "decode inference response"},
	} {
		got, err := decodeInferResponse([]byte(tc.body), 2)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	base := 100 * time.Millisecond
	for attempt, full := range []time.Duration{base, 2 * base, 4 * base} {
		for range 20 {
			if d := backoffDelay(base, attempt); d < full/2 || d > full {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
	if d := backoffDelay(base, 1000); d > maxBackoff {
		t.Errorf("delay %v after many attempts exceeds the cap %v", d, maxBackoff)
	}
}
