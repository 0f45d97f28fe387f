// Package oipserver is a small model server speaking the Open Inference
// Protocol v2 REST API (as KServe, Triton and MLServer do), serving one
// model that scores rows of float32 features with a Go function. Tests and
// benchmarks of the scorer's remote runtime run it over real HTTP; its
// options inject latency and failures, and its counters show how it was
// called.
package oipserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxBody bounds an inference request.
const maxBody = 256 << 20

// Options of a Server.
type Options struct {
	Name      string                  // the model's name in URLs
	Width     int                     // features per row of its FP32 [rows, Width] input
	Latency   time.Duration           // added to every inference request
	Score     func([]float32) float32 // scores one row; nil sums the features
	FailFirst int                     // answer 503 to the first FailFirst inference requests
	Status4xx bool                    // answer 400 to every inference request
}

// Server is one model behind the OIP v2 endpoints. Any version in a
// /versions/{v} URL names the same model.
type Server struct {
	opts  Options
	mux   *http.ServeMux
	ready atomic.Bool

	mu                              sync.Mutex
	requests, inFlight, maxInFlight int
}

// New returns a ready server.
func New(opts Options) *Server {
	if opts.Score == nil {
		opts.Score = sum
	}
	s := &Server{opts: opts, mux: http.NewServeMux()}
	s.ready.Store(true)
	s.mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	})
	s.mux.HandleFunc("GET /v2/health/ready", s.serverReady)
	for _, model := range []string{"/v2/models/{name}", "/v2/models/{name}/versions/{version}"} {
		s.mux.HandleFunc("GET "+model, s.known(s.metadata))
		s.mux.HandleFunc("GET "+model+"/ready", s.known(s.modelReady))
		s.mux.HandleFunc("POST "+model+"/infer", s.known(s.infer))
	}
	return s
}

// Handler serves the OIP v2 REST API.
func (s *Server) Handler() http.Handler { return s.mux }

// SetReady makes the model (and the server) report ready or not; a model
// that is not ready answers inference requests with 503.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Requests is the number of inference requests received.
func (s *Server) Requests() int { return s.counter(&s.requests) }

// InFlight is the number of inference requests being answered now.
func (s *Server) InFlight() int { return s.counter(&s.inFlight) }

// MaxInFlight is the most inference requests answered at once so far.
func (s *Server) MaxInFlight() int { return s.counter(&s.maxInFlight) }

func (s *Server) counter(c *int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *c
}

func (s *Server) serverReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeError(w, http.StatusServiceUnavailable, "server is not ready")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

// known answers 404 for another model than the one served.
func (s *Server) known(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if name := r.PathValue("name"); name != s.opts.Name {
			writeError(w, http.StatusNotFound, fmt.Sprintf("model %q not found", name))
			return
		}
		h(w, r)
	}
}

func (s *Server) modelReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("model %q is not ready", s.opts.Name))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": s.opts.Name, "ready": true})
}

type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (s *Server) metadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name":     s.opts.Name,
		"versions": []string{"1"},
		"platform": "partita-oipserver",
		"inputs":   []tensorMetadata{{Name: "input", Datatype: "FP32", Shape: []int64{-1, int64(s.opts.Width)}}},
		"outputs":  []tensorMetadata{{Name: "output", Datatype: "FP32", Shape: []int64{-1, 1}}},
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}

// writeError answers in the protocol's error form, {"error": "..."}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func sum(row []float32) float32 {
	var t float32
	for _, v := range row {
		t += v
	}
	return t
}
