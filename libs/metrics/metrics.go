// Package metrics is a process's Prometheus metrics: the families every
// Partita process serves at GET /metrics (names in base units, counters
// ending in _total), the Go runtime and process collectors, and gauges
// read when scraped (a stage's backlog). One Metrics is made per process
// by the composition root; services record through the small interfaces
// they declare, which *Metrics implements.
package metrics

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/partita/partita/libs/buildinfo"
)

// Outcomes of a part at a stage (partita_parts_processed_total's outcome).
const (
	Succeeded = "succeeded" // done, handed to the next stage
	Failed    = "failed"    // failed for good, reported to the aggregator
	Retried   = "retried"   // failed this time, redelivered later
	Dropped   = "dropped"   // of a job that ended, or unknown
	Duplicate = "duplicate" // a redelivery of a part counted before (aggregate)
)

// Metrics is one process's registry and families.
type Metrics struct {
	reg *prometheus.Registry

	parts     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inFlight  *prometheus.GaugeVec
	finished  *prometheus.CounterVec
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	webhooks  *prometheus.CounterVec
	inference *prometheus.HistogramVec
	qpIters   prometheus.Histogram

	mu      sync.Mutex
	backlog map[string]func(ctx context.Context) (int, error) // by stage
	jobs    func(ctx context.Context) (map[string]int, error) // by status
}

// New makes a process's metrics, with partita_build_info and the Go
// runtime and process collectors registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		parts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partita_parts_processed_total", Help: "Parts handled by a stage, by outcome (succeeded, failed, retried, dropped).",
		}, []string{"stage", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "partita_part_duration_seconds", Help: "Time a stage spent on one part.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5 ms .. ~131 s
		}, []string{"stage"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "partita_parts_in_flight", Help: "Parts a stage of this process is working on now.",
		}, []string{"stage"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partita_jobs_finished_total", Help: "Jobs that ended, by final status.",
		}, []string{"status"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partita_http_requests_total", Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "partita_http_request_duration_seconds", Help: "Time to answer an HTTP request, by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"route"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partita_webhook_deliveries_total", Help: "Webhook delivery attempts, by outcome.",
		}, []string{"outcome"}),
		inference: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "partita_model_inference_duration_seconds", Help: "Time a model took to score one part, by model name.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 0.1 ms .. ~26 s
		}, []string{"model"}),
		qpIters: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "partita_qp_iterations", Help: "Iterations of one QP solve of a part.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 .. 262,144
		}),
		backlog: map[string]func(context.Context) (int, error){},
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "partita_build_info", Help: "The running build (value 1).", ConstLabels: prometheus.Labels{"version": buildinfo.String()},
	})
	build.Set(1)
	m.reg.MustRegister(m.parts, m.duration, m.inFlight, m.finished, m.requests, m.latency, m.webhooks, m.inference, m.qpIters, build,
		scrapeCollector{m}, collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(liveHeap)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// liveHeap adds go_gc_heap_live_bytes to the Go collector's defaults: the
// heap the last GC found reachable. It is what tells a leak from the
// memory a process holds after a peak and returns slowly (RSS).
var liveHeap = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// PartStarted counts a part in flight at a stage; the returned func ends
// it with its outcome.
func (m *Metrics) PartStarted(stage string) func(outcome string) {
	start := time.Now()
	g := m.inFlight.WithLabelValues(stage)
	g.Inc()
	return func(outcome string) {
		g.Dec()
		m.duration.WithLabelValues(stage).Observe(time.Since(start).Seconds())
		m.parts.WithLabelValues(stage, outcome).Inc()
	}
}

// PartsDone counts n parts a stage handled with an outcome, without timing
// them (the splitter's parts, the aggregator's arrivals).
func (m *Metrics) PartsDone(stage, outcome string, n int) {
	m.parts.WithLabelValues(stage, outcome).Add(float64(n))
}

// JobFinished counts a job that ended with a final status.
func (m *Metrics) JobFinished(status string) { m.finished.WithLabelValues(status).Inc() }

// HTTPRequest counts one answered request of a route pattern.
func (m *Metrics) HTTPRequest(route string, code int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// WebhookDelivery counts one delivery attempt's outcome.
func (m *Metrics) WebhookDelivery(outcome string) { m.webhooks.WithLabelValues(outcome).Inc() }

// Inference times one model call over a part.
func (m *Metrics) Inference(model string, took time.Duration) {
	m.inference.WithLabelValues(model).Observe(took.Seconds())
}

// QPIterations records one solve's iterations.
func (m *Metrics) QPIterations(n int) { m.qpIters.Observe(float64(n)) }

// WatchBacklog serves partita_stage_backlog{stage} from count, read at
// each scrape (messages pending and unacked over every consumer of the
// stage's stream).
func (m *Metrics) WatchBacklog(stage string, count func(ctx context.Context) (int, error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.backlog[stage] = count
}

// WatchJobs serves partita_jobs{status} from count, read at each scrape
// (the jobs not ended yet, by status).
func (m *Metrics) WatchJobs(count func(ctx context.Context) (map[string]int, error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs = count
}

var jobsDesc = prometheus.NewDesc("partita_jobs", "Jobs not ended yet, by status (queued, running).", []string{"status"}, nil)

var backlogDesc = prometheus.NewDesc("partita_stage_backlog",
	"Messages of a stage waiting or in flight, summed over tenants (what autoscaling reads).", []string{"stage"}, nil)

// scrapeCollector reads the watched stages' backlogs and the jobs not
// ended when scraped; a count that fails is left out of that scrape.
type scrapeCollector struct{ m *Metrics }

func (c scrapeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc; ch <- jobsDesc }

func (c scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	counts := make(map[string]func(context.Context) (int, error), len(c.m.backlog))
	for k, v := range c.m.backlog {
		counts[k] = v
	}
	jobs := c.m.jobs
	c.m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if jobs != nil {
		byStatus, err := jobs(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		}
		for status, n := range byStatus {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), status)
		}
	}
	for stage, count := range counts {
		n, err := count(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(backlogDesc, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n), stage)
	}
}
