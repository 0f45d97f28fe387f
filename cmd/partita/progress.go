package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/partita/partita/internal/client"
)

// stageOrder is how stages are shown.
var stageOrder = []string{"split", "score", "optimize", "aggregate"}

// progressView shows a job's parts done per stage: a bar redrawn in place
// on a terminal, one line per change when the output is piped.
type progressView struct {
	w    io.Writer
	tty  bool
	last string
}

func newProgressView(f *os.File) *progressView {
	fi, err := f.Stat()
	return &progressView{w: f, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

func (p *progressView) show(j *client.Job) {
	stages := j.Stages()
	var parts []string
	for _, name := range stageOrder {
		s, ok := stages[name]
		if !ok {
			continue
		}
		item := fmt.Sprintf("%s %d/%d", name, s.Done, s.Total)
		if s.Failed > 0 {
			item += fmt.Sprintf(" (%d failed)", s.Failed)
		}
		parts = append(parts, item)
	}
	line := fmt.Sprintf("%s %-9s %s", j.ID, j.Status, strings.Join(parts, "  "))
	if line == p.last {
		return
	}
	p.last = line
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	agg := stages["aggregate"]
	fmt.Fprintf(p.w, "\r\033[K%s %s", bar(agg.Done+agg.Failed, agg.Total, 24), line)
	if j.Terminal() {
		fmt.Fprintln(p.w)
	}
}

func bar(done, total, width int) string {
	filled := 0
	if total > 0 {
		filled = min(width, done*width/total)
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}
