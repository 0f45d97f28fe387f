package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/client"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/models"
)

// heldModel is a remote (OIP v2) model whose part inferences wait until
// released; a warm-up (one row) is answered at once. Its score of a row
// is the row's first feature.
type heldModel struct {
	endpoint string
	release  chan struct{}
	once     sync.Once

	mu        sync.Mutex
	held      int // part inferences received
	abandoned int // of those, the ones whose caller went away before release
}

func newHeldModel(t *testing.T) *heldModel {
	t.Helper()
	m := &heldModel{release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/models/held/ready", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("POST /v2/models/held/infer", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Inputs []struct {
				Shape []int64   `json:"shape"`
				Data  []float32 `json:"data"`
			} `json:"inputs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 1 || len(req.Inputs[0].Shape) != 2 {
			http.Error(w, `{"error": "want one [rows, width] input"}`, http.StatusBadRequest)
			return
		}
		in := req.Inputs[0]
		rows, width := int(in.Shape[0]), int(in.Shape[1])
		if rows > 1 { // a part, not a warm-up
			m.count(&m.held)
			select {
			case <-m.release:
			case <-r.Context().Done():
				m.count(&m.abandoned)
				return
			}
		}
		y := make([]float32, rows)
		for i := range y {
			y[i] = in.Data[i*width]
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"outputs": []map[string]any{{"name": "risk", "shape": []int{rows}, "datatype": "FP32", "data": y}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(m.open) // before srv.Close: it waits for the held requests
	m.endpoint = srv.URL + "/v2/models/held"
	return m
}

func (m *heldModel) count(n *int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	*n++
}

func (m *heldModel) counts() (held, abandoned int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held, m.abandoned
}

func (m *heldModel) open() { m.once.Do(func() { close(m.release) }) }

// nakAdvisories records JetStream's advisories of the naks on the score
// stream: a hand-back is a nak; a part left to its ack wait has none.
type nakAdvisories struct {
	mu   sync.Mutex
	naks []struct {
		ConsumerSeq uint64 `json:"consumer_seq"`
		StreamSeq   uint64 `json:"stream_seq"`
		Deliveries  uint64 `json:"deliveries"`
	}
}

func recordNaks(t *testing.T, natsURL string) *nakAdvisories {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	a := &nakAdvisories{}
	_, err = nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED."+contracts.Score.Stream()+".>", func(m *nats.Msg) {
		a.mu.Lock()
		defer a.mu.Unlock()
		var e struct {
			ConsumerSeq uint64 `json:"consumer_seq"`
			StreamSeq   uint64 `json:"stream_seq"`
			Deliveries  uint64 `json:"deliveries"`
		}
		if json.Unmarshal(m.Data, &e) == nil {
			a.naks = append(a.naks, e)
		}
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return a
}

// TestScaleInHandsBackInFlightParts is a Kubernetes scale-in of the score
// stage, with processes: two `partita serve --target=scorer` replicas on
// one NATS and MinIO. Replica A holds every part of a job (its remote
// model does not answer); replica B starts; A is SIGTERMed. A must exit
// cleanly (code 0) after handing every part back to the stream with a
// nak — not finishing them, and not leaving them to the ack wait — and B
// must score them all: each part is delivered exactly twice (once to A,
// once to B: an ack-wait expiry would be a third delivery), and the job
// succeeds with every row exactly once, scored. With the default 3 s ack
// wait, and with 1 s: shorter than the fetch in flight a drain waits for
// (up to 2 s) before it hands parts back, so the parts must be kept alive
// meanwhile.
func TestScaleInHandsBackInFlightParts(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"DefaultAckWait", nil},
		{"AckWaitShorterThanTheFetch", []string{"--scorer.ack-wait", "1s"}},
	} {
		t.Run(c.name, func(t *testing.T) { scaleIn(t, c.args) })
	}
}

func scaleIn(t *testing.T, scorerArgs []string) {
	natsURL := startNATS(t)
	s3 := startMinIO(t)
	root := repoRoot(t)
	model := newHeldModel(t)
	setupTenantModel(t, natsURL, s3, "held", []byte(`{"kind":"remote","endpoint":"`+model.endpoint+`","width":9}`),
		models.Version{Kind: models.KindRemote, Endpoint: model.endpoint, Width: 9})
	naks := recordNaks(t, natsURL)

	common := []string{"--nats-url", natsURL, "--store", "s3", "--s3-endpoint", s3.Endpoint, "--s3-bucket", s3.Bucket,
		"--s3-access-key", s3.AccessKey, "--s3-secret-key", s3.SecretKey}
	pipeline := startProcess(t, "gateway+ingest+splitter+aggregator", root, nil,
		append([]string{"serve", "--target=gateway,ingest,splitter,aggregator", "--http", "127.0.0.1:0", "--log.level", "info"}, common...)...)
	scorer := func(name string) (*process, string) {
		args := append([]string{"serve", "--target=scorer", "--admin-addr", "127.0.0.1:0", "--log.level", "debug", "--outbound.allow-loopback"}, scorerArgs...)
		p := startProcess(t, name, root, nil, append(args, common...)...)
		admin := "http://" + p.loggedAddr(t, "admin endpoint listening")
		waitReady(t, admin, p) // its model is warm
		return p, admin
	}
	url := "http://" + pipeline.loggedAddr(t, "REST API listening")
	waitReady(t, url, pipeline)
	a, aAdmin := scorer("scorer-a")

	h := &harness{t: t, url: validated(t, url), direct: url}
	h.c = client.New(h.url, apiKey)
	input := fleetCSV(t, 400, 4)
	r := h.submit(scoreSpec("csv", "held", 1000, ""), input, nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	id := jobID(t, r)

	// A holds every part: its model calls wait.
	var parts int
	require.Eventually(t, func() bool {
		j := h.get("/v1/jobs/"+id, nil)
		n, _ := j.json(t)["parts"].(float64)
		parts = int(n)
		return parts > 0
	}, 30*time.Second, 20*time.Millisecond, "the job was never split")
	require.GreaterOrEqual(t, parts, 2, "a job of several parts")
	inFlight := func(admin string) int {
		v, _ := value(scrapeURL(t, admin+"/metrics"), "partita_parts_in_flight", map[string]string{"stage": "score"})
		return int(v)
	}
	require.Eventually(t, func() bool {
		held, _ := model.counts()
		return held == parts && inFlight(aAdmin) == parts
	}, 30*time.Second, 20*time.Millisecond, "scorer A never held all %d parts", parts)

	// B starts (warm, subscribed) and has nothing to take: A holds it all.
	_, bAdmin := scorer("scorer-b")
	js := connect(t, natsURL)
	cons, err := js.Consumer(t.Context(), contracts.Score.Stream(), "scorer-"+tenant)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumWaiting >= 2 // A's pull and B's
	}, 30*time.Second, 20*time.Millisecond, "scorer B never pulled")
	held, _ := model.counts()
	require.Equal(t, parts, held, "scorer B took a part A holds")
	require.Equal(t, 0, inFlight(bAdmin))

	// Scale-in: SIGTERM A while it holds every part.
	sigterm := time.Now()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-a.done:
		a.done <- err // for the cleanup
		require.NoError(t, err, "scorer A did not exit cleanly (code 0) on SIGTERM")
	case <-time.After(25 * time.Second):
		t.Fatal("scorer A did not exit within 25 s of SIGTERM")
	}
	exited := time.Since(sigterm)

	// A gave up its model calls (it hands parts back, it does not finish
	// them), and B has them all, before anything is released.
	require.Eventually(t, func() bool {
		held, abandoned := model.counts()
		return abandoned == parts && held >= 2*parts
	}, 20*time.Second, 10*time.Millisecond, "scorer A never gave up its model calls, or B never made them")
	handedOver := time.Since(sigterm)
	held, abandoned := model.counts()
	require.Equal(t, [2]int{2 * parts, parts}, [2]int{held, abandoned}, "model calls: A's and B's, one per part each; A's abandoned")
	model.open()
	j := h.waitJob(id, 30*time.Second)
	require.Equal(t, "succeeded", j["status"], "%v", j)
	t.Logf("%d parts: A exited %s after SIGTERM; B held them all %s after it", parts, exited.Round(time.Millisecond), handedOver.Round(time.Millisecond))

	// Handed back by A with one nak each, at their first delivery, and
	// delivered once more, to B: none waited for the ack wait.
	naks.mu.Lock()
	got := naks.naks
	naks.mu.Unlock()
	require.Len(t, got, parts, "one nak per part A held, none other: %+v", got)
	seqs := map[uint64]bool{}
	for _, n := range got {
		assert.EqualValues(t, 1, n.Deliveries, "a nak of a part's first delivery (to A): %+v", n)
		assert.LessOrEqual(t, n.ConsumerSeq, uint64(parts), "a nak of one of A's deliveries: %+v", n)
		seqs[n.StreamSeq] = true
	}
	require.Len(t, seqs, parts, "every part handed back once: %+v", got)
	info, err := cons.Info(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 2*parts, info.Delivered.Consumer, "each part delivered twice, to A then to B (an ack-wait expiry would deliver again)")
	require.Zero(t, info.NumAckPending)
	require.Zero(t, info.NumPending)

	// B scored every part; A's handlers were cancelled, not failed.
	fams := scrapeURL(t, bAdmin+"/metrics")
	v, _ := value(fams, "partita_parts_processed_total", map[string]string{"stage": "score", "outcome": "succeeded"})
	require.EqualValues(t, parts, v, "scorer B scored every part")
	v, _ = value(fams, "partita_parts_processed_total", map[string]string{"stage": "score", "outcome": "retried"})
	require.Zero(t, v, "scorer B retried nothing")
	canceled := 0
	for _, l := range a.logLines() {
		if l["level"] == "error" {
			t.Errorf("scorer A logged an error: %v", l)
		}
		if l["message"] == "handler canceled; the message will be redelivered" && l["stage"] == "score" && l["job"] == id {
			canceled++
		}
	}
	require.Equal(t, parts, canceled, "scorer A's handler of every part was cancelled by the drain")

	// Every row exactly once, with the model's score.
	recs, err := csv.NewReader(bytes.NewReader(input)).ReadAll()
	require.NoError(t, err)
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	want := map[string]float64{} // asset_id → h2, its score
	for _, rec := range recs[1:] {
		h2, err := strconv.ParseFloat(rec[col["h2"]], 32)
		require.NoError(t, err)
		want[rec[col["asset_id"]]] = float64(float32(h2))
	}
	res := h.result(id)
	require.Len(t, res.Parts, parts)
	for _, p := range res.Parts {
		require.Nil(t, p.Error, "part %s failed", p.ID)
	}
	require.Len(t, res.Rows, len(want), "every row, none doubled")
	seen := map[string]bool{}
	for _, row := range res.Rows {
		asset, _ := row["asset_id"].(string)
		require.False(t, seen[asset], "row %s twice", asset)
		seen[asset] = true
		h2, ok := want[asset]
		require.True(t, ok, "a row not in the input: %v", row)
		risk, ok := row["risk"].(float64)
		require.True(t, ok, "row %s without its score: %v", asset, row)
		require.InDelta(t, h2, risk, 1e-3*math.Max(1, math.Abs(h2)), "row %s", asset)
	}
}

// logBytes is the process's stderr so far.
func (p *process) logBytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return []byte(p.log.String())
}

// logLines is the process's JSON log lines so far.
func (p *process) logLines() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(string(p.logBytes()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
