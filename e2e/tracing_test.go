package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// everyHopSpec is an optimize job whose end is delivered to a webhook:
// every kind of hop a job makes.
func everyHopSpec(hook string) string {
	return scoreSpec("csv", "dga-risk", 100, `optimize:
  sense: maximize
  variable: {name: x, lower: 0, upper: 1}
  objective: {linear: "risk * outage_cost"}
  constraints: [{name: budget, coef: "repair_cost", max: 150000, scope: part}]
delivery: {webhook: `+hook+`, events: [job.succeeded]}
`)
}

// hookReceiver answers webhooks with 204 and signals each one.
func hookReceiver(t *testing.T) (url string, delivered <-chan struct{}) {
	ch := make(chan struct{}, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		ch <- struct{}{}
	}))
	t.Cleanup(recv.Close)
	return recv.URL + "/hook", ch
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// A job is one trace across every service, recorded with the SDK's
// in-memory span recorder: the submit's server span is its root, every
// other span's parent is in the trace, each part has its score and
// optimize spans with the inference and the solve under them, and the
// final event's webhook delivery closes it.
func TestOneTracePerJob(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })

	h := start(t, harnessOptions{args: []string{"--outbound.allow-loopback"}})
	hook, delivered := hookReceiver(t)
	data := fleetCSV(t, 1_000, 5)
	wantParts, _ := expectedParts(t, data, 100)
	r := h.submit(everyHopSpec(hook), data, nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	id := jobID(t, r)
	job := h.waitJob(id, 2*time.Minute)
	require.Equal(t, "succeeded", job["status"], "%v", job)
	traceID, _ := job["trace_id"].(string)
	require.Len(t, traceID, 32, "the job view carries its trace id: %v", job)
	select {
	case <-delivered:
	case <-time.After(30 * time.Second):
		t.Fatal("the webhook was not delivered")
	}

	var spans []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		spans = spans[:0]
		delivery := false
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID().String() == traceID {
				spans = append(spans, s)
				delivery = delivery || s.Name() == "deliver webhook"
			}
		}
		return delivery
	}, 10*time.Second, 20*time.Millisecond, "the webhook delivery span ends in the job's trace")

	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	count := map[string]int{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		count[s.Name()]++
	}
	var roots []string
	for _, s := range spans {
		if !s.Parent().IsValid() {
			roots = append(roots, s.Name())
			continue
		}
		_, ok := byID[s.Parent().SpanID()]
		require.True(t, ok, "span %q has its parent in the trace", s.Name())
	}
	require.Equal(t, []string{"POST /v1/jobs"}, roots, "one root: the submit")
	require.Equal(t, 1, count["process PARTITA_INGEST"])
	require.Equal(t, 1, count["process PARTITA_SPLIT"])
	require.Equal(t, wantParts, count["process PARTITA_SCORE"], "one score span per part")
	require.Equal(t, wantParts, count["process PARTITA_OPTIMIZE"], "one optimize span per part")
	require.Equal(t, wantParts+1, count["process PARTITA_AGGREGATE"], "every part and the split's marker")
	require.Equal(t, 1, count["finalize"])
	require.Equal(t, 1, count["deliver webhook"])
	for _, s := range spans {
		parent := byID[s.Parent().SpanID()]
		switch s.Name() {
		case "inference":
			require.Equal(t, "process PARTITA_SCORE", parent.Name(), "inference runs under its part's score span")
			require.Contains(t, attr(s, "partita.model"), "dga-risk@")
			count["inference checked"]++
		case "qp solve":
			require.Equal(t, "process PARTITA_OPTIMIZE", parent.Name())
			require.Equal(t, "optimal", attr(s, "partita.qp.status"))
			require.NotEmpty(t, attr(s, "partita.qp.iterations"))
			count["qp checked"]++
		case "process PARTITA_SCORE":
			require.Equal(t, "nats", attr(s, "messaging.system"))
			require.Equal(t, "process", attr(s, "messaging.operation.type"))
			require.NotEmpty(t, attr(s, "messaging.destination.name"))
			require.NotEmpty(t, attr(s, "messaging.consumer.group.name"))
			require.NotEmpty(t, attr(s, "messaging.message.id"))
			require.Equal(t, id, attr(s, "partita.job"))
			require.Equal(t, tenant, attr(s, "partita.tenant"))
			require.Equal(t, trace.SpanKindConsumer, s.SpanKind())
		}
	}
	require.Equal(t, wantParts, count["inference checked"])
	require.Equal(t, wantParts, count["qp checked"])
}

// otlpSpan is a span as an OTLP receiver decoded it.
type otlpSpan struct {
	name, service         string
	trace, span, parentOf string // hex ids; parentOf is the parent's span id ("" for a root)
}

// otlpReceiver is an OTLP/HTTP trace receiver that decodes each export
// request with the OTLP protobuf types; spans returns what it received.
func otlpReceiver(t *testing.T) (url string, spans func() []otlpSpan) {
	var (
		mu  sync.Mutex
		got []otlpSpan
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
			return
		}
		body := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					o := otlpSpan{name: sp.GetName(), service: service, trace: hex.EncodeToString(sp.GetTraceId()), span: hex.EncodeToString(sp.GetSpanId())}
					if len(sp.GetParentSpanId()) > 0 {
						o.parentOf = hex.EncodeToString(sp.GetParentSpanId())
					}
					got = append(got, o)
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(recv.Close)
	return recv.URL, func() []otlpSpan {
		mu.Lock()
		defer mu.Unlock()
		return append([]otlpSpan(nil), got...)
	}
}

// connected reports why the spans of one trace are not (yet) one tree —
// one root, the submit, and every other span's parent among them — or ""
// when they are, with the services they came from.
func connected(spans []otlpSpan, traceID string) (map[string]bool, string) {
	ids := map[string]bool{}
	for _, s := range spans {
		if s.trace == traceID {
			ids[s.span] = true
		}
	}
	services := map[string]bool{}
	var roots []string
	for _, s := range spans {
		if s.trace != traceID {
			continue
		}
		services[s.service] = true
		if s.parentOf == "" {
			roots = append(roots, s.name)
		} else if !ids[s.parentOf] {
			return services, fmt.Sprintf("span %q of %s has no parent in the trace", s.name, s.service)
		}
	}
	if len(roots) != 1 || roots[0] != "POST /v1/jobs" {
		return services, fmt.Sprintf("roots %v, want the submit alone", roots)
	}
	return services, ""
}

// waitConnected waits until the receiver holds the job's trace as one
// tree including the finalize span (processes export in batches), and
// returns its services.
func waitConnected(t *testing.T, spans func() []otlpSpan, traceID string) map[string]bool {
	t.Helper()
	var services map[string]bool
	why := "no span yet"
	require.Eventually(t, func() bool {
		got := spans()
		final := false
		for _, s := range got {
			final = final || (s.trace == traceID && s.name == "finalize")
		}
		if services, why = connected(got, traceID); !final && why == "" {
			why = "no finalize span yet"
		}
		return why == ""
	}, 30*time.Second, 50*time.Millisecond, "the job's trace reaches the receiver, connected")
	require.Empty(t, why)
	return services
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, a process exports its spans over
// OTLP/HTTP: a receiver decoding the OTLP protobuf request gets the job's
// trace, connected, under the service name OTEL_SERVICE_NAME gives.
func TestTracesExportOverOTLP(t *testing.T) {
	url, spans := otlpReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_SERVICE_NAME", "partita-e2e")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // ms between batches
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })

	h := start(t, harnessOptions{})
	r := h.submit(scoreSpec("csv", "dga-risk", 100, ""), fleetCSV(t, 300, 2), map[string]string{"Prefer": "wait=60"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "succeeded", r.json(t)["status"], "%s", r.Body)
	traceID, _ := r.json(t)["trace_id"].(string)
	require.Len(t, traceID, 32, "the job view carries its trace id")
	require.Equal(t, map[string]bool{"partita-e2e": true}, waitConnected(t, spans, traceID), "service name from OTEL_SERVICE_NAME")
}
