package oipserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// tensor is an FP32 input or output; data is row-major.
type tensor struct {
	Name     string    `json:"name"`
	Shape    []int64   `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float32 `json:"data"`
}

type inferRequest struct {
	ID     string   `json:"id,omitempty"`
	Inputs []tensor `json:"inputs"`
}

type inferResponse struct {
	ModelName string   `json:"model_name"`
	ID        string   `json:"id,omitempty"`
	Outputs   []tensor `json:"outputs"`
}

// infer answers one inference request: the injected failures first, then
// the request is validated, delayed by Latency (or until the client goes
// away) and scored row by row into an FP32 [rows, 1] output.
func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	n := s.enter()
	defer s.leave()
	switch {
	case n <= s.opts.FailFirst:
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("injected failure %d of %d", n, s.opts.FailFirst))
		return
	case s.opts.Status4xx:
		writeError(w, http.StatusBadRequest, "injected bad request")
		return
	case !s.ready.Load():
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("model %q is not ready", s.opts.Name))
		return
	}

	var req inferRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("decode inference request: %v", err))
		return
	}
	rows, err := s.validate(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}

	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the client gave up
		}
	}

	width := s.opts.Width
	out := make([]float32, rows)
	for i := range out {
		out[i] = s.opts.Score(req.Inputs[0].Data[i*width : (i+1)*width])
	}
	writeJSON(w, http.StatusOK, inferResponse{
		ModelName: s.opts.Name,
		ID:        req.ID,
		Outputs:   []tensor{{Name: "output", Shape: []int64{int64(rows), 1}, Datatype: "FP32", Data: out}},
	})
}

// validate checks for one FP32 [rows, Width] input and returns rows.
func (s *Server) validate(req inferRequest) (int, error) {
	if len(req.Inputs) != 1 {
		return 0, fmt.Errorf("want 1 input, got %d", len(req.Inputs))
	}
	in := req.Inputs[0]
	if in.Datatype != "FP32" {
		return 0, fmt.Errorf("input %q: datatype %q, want FP32", in.Name, in.Datatype)
	}
	if len(in.Shape) != 2 || in.Shape[0] < 0 || in.Shape[1] != int64(s.opts.Width) {
		return 0, fmt.Errorf("input %q: shape %v, want [rows, %d]", in.Name, in.Shape, s.opts.Width)
	}
	rows := int(in.Shape[0])
	if len(in.Data) != rows*s.opts.Width {
		return 0, fmt.Errorf("input %q: %d values for shape %v", in.Name, len(in.Data), in.Shape)
	}
	return rows, nil
}

// enter counts a request in and returns its number, from 1.
func (s *Server) enter() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	return s.requests
}

func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
}
