package oipserver

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func start(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs.URL
}

// call makes a request and decodes the JSON answer into a map.
func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object: %v", method, url, data, err)
	}
	return resp.StatusCode, v
}

func TestHealthAndMetadata(t *testing.T) {
	s, url := start(t, Options{Name: "m", Width: 3})
	for _, path := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/m/ready", "/v2/models/m/versions/7/ready"} {
		if code, _ := call(t, "GET", url+path, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", path, code)
		}
	}
	code, meta := call(t, "GET", url+"/v2/models/m", "")
	in := meta["inputs"].([]any)[0].(map[string]any)
	if code != http.StatusOK || meta["name"] != "m" || in["datatype"] != "FP32" || in["shape"].([]any)[1] != 3.0 {
		t.Errorf("metadata: %d %v", code, meta)
	}
	if code, body := call(t, "GET", url+"/v2/models/other/ready", ""); code != http.StatusNotFound || body["error"] != `model "other" not found` {
		t.Errorf("unknown model: %d %v", code, body)
	}
	s.SetReady(false)
	for _, path := range []string{"/v2/health/ready", "/v2/models/m/ready"} {
		if code, body := call(t, "GET", url+path, ""); code != http.StatusServiceUnavailable || body["error"] == nil {
			t.Errorf("GET %s when not ready: %d %v, want 503 with an error", path, code, body)
		}
	}
}

func TestInfer(t *testing.T) {
	s, url := start(t, Options{Name: "m", Width: 2, Score: func(r []float32) float32 { return r[0] - r[1] }})
	code, body := call(t, "POST", url+"/v2/models/m/versions/1/infer",
		`{"id":"r1","inputs":[{"name":"input","shape":[3,2],"datatype":"FP32","data":[5,1,2,2,0,3]}]}`)
	if code != http.StatusOK || body["id"] != "r1" || body["model_name"] != "m" {
		t.Fatalf("infer: %d %v", code, body)
	}
	out := body["outputs"].([]any)[0].(map[string]any)
	var data []float64
	for _, v := range out["data"].([]any) {
		data = append(data, v.(float64))
	}
	if !slices.Equal(data, []float64{4, 0, -3}) || out["datatype"] != "FP32" || len(out["shape"].([]any)) != 2 {
		t.Errorf("output %v, want FP32 [3,1] data [4 0 -3]", out)
	}
	if s.Requests() != 1 || s.InFlight() != 0 || s.MaxInFlight() != 1 {
		t.Errorf("counters: %d requests, %d in flight, %d at most; want 1, 0, 1", s.Requests(), s.InFlight(), s.MaxInFlight())
	}
}

func TestInferRejectsBadRequests(t *testing.T) {
	_, url := start(t, Options{Name: "m", Width: 2})
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `{`, "decode inference request"},
		{"two inputs", `{"inputs":[{"name":"a","shape":[0,2],"datatype":"FP32","data":[]},{"name":"b","shape":[0,2],"datatype":"FP32","data":[]}]}`, "want 1 input"},
		{"datatype", `{"inputs":[{"name":"a","shape":[1,2],"datatype":"INT64","data":[1,2]}]}`, `datatype "INT64", want FP32`},
		{"width", `{"inputs":[{"name":"a","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}`, "want [rows, 2]"},
		{"data length", `{"inputs":[{"name":"a","shape":[2,2],"datatype":"FP32","data":[1,2,3]}]}`, "3 values for shape [2 2]"},
	} {
		code, body := call(t, "POST", url+"/v2/models/m/infer", tc.body)
		if msg, _ := body["error"].(string); code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %v, want 400 with an error containing %q", tc.name, code, body, tc.want)
		}
	}
}

func TestInjectedFailures(t *testing.T) {
	s, url := start(t, Options{Name: "m", Width: 1, FailFirst: 1})
	req := `{"inputs":[{"name":"a","shape":[1,1],"datatype":"FP32","data":[1]}]}`
	if code, _ := call(t, "POST", url+"/v2/models/m/infer", req); code != http.StatusServiceUnavailable {
		t.Errorf("first call: %d, want 503", code)
	}
	if code, _ := call(t, "POST", url+"/v2/models/m/infer", req); code != http.StatusOK {
		t.Errorf("second call: %d, want 200", code)
	}
	s.SetReady(false)
	if code, _ := call(t, "POST", url+"/v2/models/m/infer", req); code != http.StatusServiceUnavailable {
		t.Errorf("call when not ready: %d, want 503", code)
	}
	_, url = start(t, Options{Name: "m", Width: 1, Status4xx: true})
	if code, body := call(t, "POST", url+"/v2/models/m/infer", req); code != http.StatusBadRequest || body["error"] != "injected bad request" {
		t.Errorf("Status4xx: %d %v, want 400", code, body)
	}
	if s.Requests() != 3 {
		t.Errorf("%d requests counted, want 3", s.Requests())
	}
}
