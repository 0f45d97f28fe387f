package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Event is one Server-Sent Event of a job: its type (status, progress,
// job.succeeded, …) and the job as of that event.
type Event struct {
	Type string
	Job  *Job
}

// Events follows a job's event stream, calling fn for every event, until
// the job ends (the last event is final), the stream closes or ctx ends.
func (c *Client) Events(ctx context.Context, id string, fn func(Event)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/v1/jobs/"+id+"/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return problem(resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var typ string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			j, err := decodeJob(data)
			if err != nil {
				return fmt.Errorf("event %s: %w", typ, err)
			}
			fn(Event{Type: typ, Job: j})
			if j.Terminal() {
				return nil
			}
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return ctx.Err()
}

// StageProgress is one stage's counts in a job's progress.
type StageProgress struct {
	Total  *int `json:"total"` // nil until the split has ended: the part count is not known yet
	Done   int  `json:"done"`
	Failed int  `json:"failed"`
}

// Count is "done/total", or "done/?" while the total is not known.
func (p StageProgress) Count() string {
	if p.Total == nil {
		return fmt.Sprintf("%d/?", p.Done)
	}
	return fmt.Sprintf("%d/%d", p.Done, *p.Total)
}

// Known is the total, or 0 while it is not known.
func (p StageProgress) Known() int {
	if p.Total == nil {
		return 0
	}
	return *p.Total
}

// Stages decodes the job's progress per stage.
func (j *Job) Stages() map[string]StageProgress {
	out := map[string]StageProgress{}
	for k, v := range j.Progress {
		var p StageProgress
		if json.Unmarshal(v, &p) == nil {
			out[k] = p
		}
	}
	return out
}
