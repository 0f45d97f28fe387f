package bench

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer/oipserver"
)

// replay is a field report replayed against a remote model that takes a
// fixed latency per request (the OIP v2 server of oipserver, on loopback).
type replay struct {
	name        string
	parts       int
	concurrency int
	latency     time.Duration
	mark        float64 // makespan / ideal must be at most this
	field       string
}

// RemoteReplay is the asset-monitoring report: 170 transformers scored by
// a model that takes 4.5 s each (here a tenth: 450 ms), 64 at a time.
func RemoteReplay(ctx context.Context, o Options) ([]Result, error) {
	r := replay{name: "remote-replay", parts: 170, concurrency: 64, latency: 450 * time.Millisecond, mark: 1.15,
		field: "the field's hand-made thread pool took 127 s vs 760 s sequential at L = 4.5 s"}
	if o.Tiny {
		r.parts, r.latency = 17, 20*time.Millisecond
	}
	return r.run(ctx, o)
}

// QbiqReplay is the space-planning report: 5,000 parts at a concurrency
// cap of 500, each calling a model that takes 100 ms.
func QbiqReplay(ctx context.Context, o Options) ([]Result, error) {
	r := replay{name: "qbiq-replay", parts: 5000, concurrency: 500, latency: 100 * time.Millisecond, mark: 1.3,
		field: "the field ran 5,000 serverless tasks at 500 concurrency"}
	if o.Tiny {
		r.parts, r.concurrency, r.latency = 100, 50, 10*time.Millisecond
	}
	return r.run(ctx, o)
}

func (r replay) run(ctx context.Context, o Options) ([]Result, error) {
	srv := oipserver.New(oipserver.Options{Name: "dga", Width: 9, Latency: r.latency, Score: func([]float32) float32 { return 0.5 }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	endpoint := "http://" + ln.Addr().String() + "/v2/models/dga"

	c := fmt.Sprint(r.concurrency)
	dev, err := StartDev(ctx, o.Dir(r.name), []string{"--outbound.allow-loopback", "--scorer.workers", c, "--scorer.remote-concurrency", c})
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	if err := dev.PushModel(ctx, "remote", models.KindRemote, 9, []byte(`{"kind":"remote","endpoint":"`+endpoint+`","width":9}`), endpoint); err != nil {
		return nil, err
	}
	input := fleetInput(r.parts, 10)
	ideal := time.Duration(math.Ceil(float64(r.parts)/float64(r.concurrency))) * r.latency
	var spans []float64
	for range o.Runs {
		start := time.Now()
		id, _, err := dev.Submit(ctx, scoreOnlySpec("remote", 1, ""), input, 0)
		if err != nil {
			return nil, err
		}
		if status, err := dev.WaitEnd(ctx, id); err != nil || status != "succeeded" {
			return nil, fmt.Errorf("%s: %s %v", r.name, status, err)
		}
		spans = append(spans, time.Since(start).Seconds())
	}
	pool := poolOverRemote(ctx, endpoint, r.parts, r.concurrency)
	v := median(spans)
	return []Result{{Scenario: r.name, Params: map[string]any{"parts": r.parts, "concurrency": r.concurrency, "latency": r.latency.String()},
		Metric: "makespan", Value: v, Unit: "s", Baseline: ideal.Seconds(), BaselineUnit: "s", BaselineDesc: "ideal makespan ⌈parts/C⌉·L",
		Ratio: v / ideal.Seconds(), Runs: o.Runs, Mark: fmt.Sprintf("≤ %.2f × ideal", r.mark), MarkMet: met(v/ideal.Seconds() <= r.mark),
		Note: fmt.Sprintf("a hand-made pool of %d goroutines calling the same server took %.2f s; server max in flight %d; %s", r.concurrency, pool, srv.MaxInFlight(), r.field)}}, nil
}

// poolOverRemote is the hand-made thread pool of the field: C goroutines
// each posting one row at a time to the model server.
func poolOverRemote(ctx context.Context, endpoint string, n, c int) float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	body := `{"inputs":[{"name":"input","shape":[1,9],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9]}]}`
	return runPool(n, c, func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/infer", stringsReader(body))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}).Seconds()
}
