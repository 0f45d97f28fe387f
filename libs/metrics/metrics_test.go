package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	require.NoError(t, err)
	return fams
}

// Every family has its Prometheus type, and records what it was told.
func TestFamilies(t *testing.T) {
	m := metrics.New()
	end := m.PartStarted("score")
	inFlight := scrape(t, m)["partita_parts_in_flight"].GetMetric()[0].GetGauge().GetValue()
	assert.Equal(t, 1.0, inFlight)
	end(metrics.Succeeded)
	m.PartsDone("aggregate", metrics.Duplicate, 2)
	m.JobFinished("succeeded")
	m.HTTPRequest("GET /v1/jobs/{id}", 200, 3*time.Millisecond)
	m.WebhookDelivery("delivered")
	m.Inference("dga-risk", time.Millisecond)
	m.QPIterations(40)
	m.WatchBacklog("score", func(context.Context) (int, error) { return 7, nil })
	m.WatchBacklog("optimize", func(context.Context) (int, error) { return 0, errors.New("stream gone") })

	fams := scrape(t, m)
	types := map[string]dto.MetricType{
		"partita_parts_processed_total":            dto.MetricType_COUNTER,
		"partita_part_duration_seconds":            dto.MetricType_HISTOGRAM,
		"partita_parts_in_flight":                  dto.MetricType_GAUGE,
		"partita_jobs_finished_total":              dto.MetricType_COUNTER,
		"partita_http_requests_total":              dto.MetricType_COUNTER,
		"partita_http_request_duration_seconds":    dto.MetricType_HISTOGRAM,
		"partita_webhook_deliveries_total":         dto.MetricType_COUNTER,
		"partita_model_inference_duration_seconds": dto.MetricType_HISTOGRAM,
		"partita_qp_iterations":                    dto.MetricType_HISTOGRAM,
		"partita_stage_backlog":                    dto.MetricType_GAUGE,
		"partita_build_info":                       dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		require.Contains(t, fams, name)
		assert.Equal(t, typ, fams[name].GetType(), name)
	}
	assert.Zero(t, fams["partita_parts_in_flight"].GetMetric()[0].GetGauge().GetValue())
	processed := map[string]float64{}
	for _, s := range fams["partita_parts_processed_total"].GetMetric() {
		processed[s.GetLabel()[1].GetValue()+"/"+s.GetLabel()[0].GetValue()] = s.GetCounter().GetValue()
	}
	assert.Equal(t, map[string]float64{"score/succeeded": 1, "aggregate/duplicate": 2}, processed)
	assert.Equal(t, uint64(1), fams["partita_qp_iterations"].GetMetric()[0].GetHistogram().GetSampleCount())
	assert.Equal(t, 40.0, fams["partita_qp_iterations"].GetMetric()[0].GetHistogram().GetSampleSum())

	backlog := fams["partita_stage_backlog"].GetMetric()
	require.Len(t, backlog, 1, "a stage whose count fails is left out, the others are served")
	assert.Equal(t, "score", backlog[0].GetLabel()[0].GetValue())
	assert.Equal(t, 7.0, backlog[0].GetGauge().GetValue())
}

// partita_jobs serves what its count says, both statuses, at each scrape.
func TestJobsGauge(t *testing.T) {
	m := metrics.New()
	m.WatchJobs(func(context.Context) (map[string]int, error) { return map[string]int{"queued": 2, "running": 1}, nil })
	got := map[string]float64{}
	for _, s := range scrape(t, m)["partita_jobs"].GetMetric() {
		got[s.GetLabel()[0].GetValue()] = s.GetGauge().GetValue()
	}
	assert.Equal(t, map[string]float64{"queued": 2, "running": 1}, got)
}
