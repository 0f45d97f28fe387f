package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/partita/partita/libs/contracts"
)

// SSE timing: how often progress is re-read, and the keep-alive comment.
const (
	sseProgressEvery = 500 * time.Millisecond
	sseKeepAlive     = 15 * time.Second
)

// jobEvents handles GET /v1/jobs/{id}/events: Server-Sent Events of the
// job's status and progress until it ends. Every event's data is the job
// view; the last event's type is the final event (job.succeeded, …).
func (s *Service) jobEvents(w http.ResponseWriter, r *http.Request, in *JobRef) {
	j := s.loadJob(w, r, in.ID)
	if j == nil {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeProblem(w, http.StatusInternalServerError, contracts.CodeInternal, "Streaming unsupported", "the server cannot stream this response")
		return
	}
	evs, stop := s.waiters.watch(j.Tenant, j.ID)
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	seq := 0
	send := func(typ string, v *JobView) {
		b, _ := json.Marshal(v) // a JobView always marshals
		seq++
		fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", seq, typ, b)
		flusher.Flush()
	}
	last := s.view(r.Context(), j)
	if j.Status.Terminal() {
		send(contracts.Final(j.Status), last)
		return
	}
	send("status", last)
	progress := time.NewTicker(sseProgressEvery)
	defer progress.Stop()
	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e := <-evs:
			if e.Job != nil && e.Job.Status.Terminal() {
				send(e.Type, s.view(r.Context(), e.Job))
				return
			}
		case <-progress.C:
			cur, err := s.deps.Jobs.Get(r.Context(), j.Tenant, j.ID)
			if err != nil {
				continue
			}
			v := s.view(r.Context(), cur)
			if cur.Status.Terminal() {
				send(contracts.Final(cur.Status), v)
				return
			}
			if v.Status != last.Status || !reflect.DeepEqual(v.Progress, last.Progress) {
				typ := "progress"
				if v.Status != last.Status {
					typ = "status"
				}
				send(typ, v)
				last = v
			}
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		}
	}
}
