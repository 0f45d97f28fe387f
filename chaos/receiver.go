package chaos

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// receiverMode is how the webhook receiver answers.
type receiverMode int

const (
	answerOK       receiverMode = iota
	answer503                   // every request fails with 503
	answerHang                  // requests are held past the dispatcher's timeout
	answerSlowOK                // requests are held for slowHold, then 200
	slowHold       = 1500 * time.Millisecond
	hangHold       = 10 * time.Second
	maxPayloadRead = 16 << 20
)

// delivery is one request the receiver got.
type delivery struct {
	id, event, job string
	status         int
	start, end     time.Time
}

// receiver is the webhook endpoint of every job of the suite: it keeps every
// request and answers as its mode says.
type receiver struct {
	srv *http.Server
	url string

	mu         sync.Mutex
	mode       receiverMode
	deliveries []delivery
	inFlight   int
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String() + "/hook"}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	d := delivery{id: req.Header.Get("webhook-id"), start: time.Now()}
	var body struct {
		Type string `json:"type"`
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, maxPayloadRead))
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	d.event, d.job = body.Type, body.Data.ID
	r.mu.Lock()
	mode := r.mode
	r.inFlight++
	r.mu.Unlock()
	switch {
	case err != nil:
		d.status = http.StatusBadRequest
	case mode == answer503:
		d.status = http.StatusServiceUnavailable
	case mode == answerHang:
		d.status = http.StatusGatewayTimeout
		select {
		case <-req.Context().Done():
		case <-time.After(hangHold):
		}
	case mode == answerSlowOK:
		d.status = http.StatusOK
		select {
		case <-req.Context().Done():
		case <-time.After(slowHold):
		}
	default:
		d.status = http.StatusOK
	}
	w.WriteHeader(d.status)
	d.end = time.Now()
	r.mu.Lock()
	r.inFlight--
	r.deliveries = append(r.deliveries, d)
	r.mu.Unlock()
}

func (r *receiver) setMode(m receiverMode) {
	r.mu.Lock()
	r.mode = m
	r.mu.Unlock()
}

// busy reports whether a request is being held.
func (r *receiver) busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight > 0
}

// of is every request made for a job.
func (r *receiver) of(job string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.deliveries {
		if d.job == job {
			out = append(out, d)
		}
	}
	return out
}

func (r *receiver) close() { _ = r.srv.Close() }
