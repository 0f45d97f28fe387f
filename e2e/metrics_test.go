package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

// scrape reads the gateway's /metrics.
func (h *harness) scrape() map[string]*dto.MetricFamily {
	h.t.Helper()
	return scrapeURL(h.t, h.url+"/metrics")
}

// scrapeURL reads a /metrics with the Prometheus text parser.
func scrapeURL(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, "the Prometheus parser reads /metrics")
	return fams
}

// value is the value of a family's sample whose labels include want (the
// sum over matching samples), and how many samples matched.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, int) {
	f := fams[name]
	if f == nil {
		return 0, 0
	}
	sum, n := 0.0, 0
samples:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue samples
			}
		}
		n++
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, n
}

// After a job, /metrics agrees with it: every part counted once at each
// stage, one inference and one solve per part, the job finished once, the
// requests answered, nothing left in flight or in the backlog.
func TestMetricsAgreeWithTheJob(t *testing.T) {
	h := start(t, harnessOptions{args: []string{"--outbound.allow-loopback"}})
	hook, delivered := hookReceiver(t)
	data := fleetCSV(t, 2_000, 8)
	wantParts, _ := expectedParts(t, data, 100)
	spec := everyHopSpec(hook)
	r := h.submit(spec, data, nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	job := h.waitJob(jobID(t, r), 2*time.Minute)
	require.Equal(t, "succeeded", job["status"], "%v", job)
	require.EqualValues(t, wantParts, job["parts"])

	select {
	case <-delivered:
	case <-time.After(30 * time.Second):
		t.Fatal("the webhook was not delivered")
	}

	parts := float64(wantParts)
	var fams map[string]*dto.MetricFamily
	require.Eventually(t, func() bool { // the backlog settles once the last acks are in
		fams = h.scrape()
		v, n := value(fams, "partita_stage_backlog", map[string]string{"stage": "score"})
		d, _ := value(fams, "partita_webhook_deliveries_total", map[string]string{"outcome": "delivered"})
		return n == 1 && v == 0 && d == 1
	}, 10*time.Second, 50*time.Millisecond, "the score stage's backlog is served and drains to 0")

	for _, stage := range []string{"split", "score", "optimize", "aggregate"} {
		v, _ := value(fams, "partita_parts_processed_total", map[string]string{"stage": stage, "outcome": "succeeded"})
		require.Equal(t, parts, v, "parts %s", stage)
	}
	for _, stage := range []string{"score", "optimize"} {
		v, n := value(fams, "partita_part_duration_seconds", map[string]string{"stage": stage})
		require.Equal(t, 1, n)
		require.Equal(t, parts, v, "a duration per part at %s", stage)
		v, n = value(fams, "partita_parts_in_flight", map[string]string{"stage": stage})
		require.Equal(t, 1, n)
		require.Zero(t, v, "nothing in flight at %s", stage)
	}
	for _, stage := range []string{"ingest", "split", "score", "optimize", "aggregate"} {
		_, n := value(fams, "partita_stage_backlog", map[string]string{"stage": stage})
		require.Equal(t, 1, n, "backlog of %s", stage)
	}
	v, _ := value(fams, "partita_model_inference_duration_seconds", map[string]string{"model": "dga-risk"})
	require.Equal(t, parts, v, "one inference per part")
	v, _ = value(fams, "partita_qp_iterations", nil)
	require.Equal(t, parts, v, "one solve per part")
	v, _ = value(fams, "partita_jobs_finished_total", map[string]string{"status": "succeeded"})
	require.Equal(t, 1.0, v)
	v, _ = value(fams, "partita_http_requests_total", map[string]string{"route": "POST /v1/jobs", "code": "201"})
	require.Equal(t, 1.0, v)
	v, _ = value(fams, "partita_http_request_duration_seconds", map[string]string{"route": "GET /v1/jobs/{id}"})
	require.GreaterOrEqual(t, v, 1.0, "the job was read")
	v, n := value(fams, "partita_build_info", nil)
	require.Equal(t, 1, n)
	require.Equal(t, 1.0, v)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_gc_heap_live_bytes"} {
		require.Contains(t, fams, name, "the Go runtime and process collectors")
	}
	live, _ := value(fams, "go_gc_heap_live_bytes", nil)
	require.Positive(t, live, "the live heap is served (the soak reads it)")

	// A request the API does not have is counted under one label.
	require.Equal(t, http.StatusNotFound, h.get("/v1/nope/1", nil).Status)
	require.Equal(t, http.StatusNotFound, h.get("/v1/nope/2", nil).Status)
	v, _ = value(h.scrape(), "partita_http_requests_total", map[string]string{"route": "unmatched", "code": "404"})
	require.Equal(t, 2.0, v)

	checkDashboard(t, fams)
}

// checkDashboard checks that every series the Grafana dashboard queries is
// one a process serves (a histogram's _bucket of its family).
func checkDashboard(t *testing.T, fams map[string]*dto.MetricFamily) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/helm/partita/dashboards/partita-dashboard.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	require.NotEmpty(t, dash.Panels)
	series := regexp.MustCompile(`\b(?:partita|process|go)_[a-z_]+\b`)
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			names := series.FindAllString(tg.Expr, -1)
			require.NotEmpty(t, names, "panel %q queries no Partita series: %s", p.Title, tg.Expr)
			for _, name := range names {
				family := strings.TrimSuffix(name, "_bucket")
				require.Contains(t, fams, family, "panel %q queries %s", p.Title, name)
				if family != name {
					require.Equal(t, dto.MetricType_HISTOGRAM, fams[family].GetType(), "%s is a histogram", family)
				}
			}
		}
	}
}

// partita_jobs counts the jobs not ended, by status: a job held at its
// scorer is running, then nothing once it ended.
func TestMetricsCountUnendedJobs(t *testing.T) {
	g := newGate()
	h := start(t, harnessOptions{scorer: []scorer.Option{scorer.WithRuntimes(runtime.Runtimes{kindGate: g})}})
	h.pushModel("held", kindGate, []byte(`{}`))
	r := h.submit(scoreSpec("csv", "held", 10, ""), fleetCSV(t, 30, 1), nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Eventually(t, func() bool { return g.entered.Load() > 0 }, 30*time.Second, 10*time.Millisecond)

	fams := h.scrape()
	running, n := value(fams, "partita_jobs", map[string]string{"status": "running"})
	require.Equal(t, 1, n)
	require.Equal(t, 1.0, running)
	queued, n := value(fams, "partita_jobs", map[string]string{"status": "queued"})
	require.Equal(t, 1, n)
	require.Zero(t, queued)

	g.Open()
	require.Equal(t, "succeeded", h.waitJob(jobID(t, r), time.Minute)["status"])
	require.Eventually(t, func() bool {
		v, n := value(h.scrape(), "partita_jobs", map[string]string{"status": "running"})
		return n == 1 && v == 0
	}, 10*time.Second, 50*time.Millisecond, "no job running once it ended")
}
