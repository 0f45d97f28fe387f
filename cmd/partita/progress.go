package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/partita/partita/internal/client"
)

// stageOrder is how stages are shown.
var stageOrder = []string{"split", "score", "optimize", "aggregate"}

// progressView shows a job's parts done per stage. On a terminal it keeps
// a block of lines, the job's then one per stage, and redraws it in place;
// elsewhere (plain) it prints one line per change, without control codes.
type progressView struct {
	w     io.Writer
	tty   bool
	drawn int // lines of the block on the terminal
	last  string
	start time.Time
}

func newProgressView(w io.Writer, tty bool) *progressView {
	return &progressView{w: w, tty: tty, start: time.Now()}
}

func (p *progressView) show(j *client.Job) {
	if p.tty {
		p.redraw(j)
		return
	}
	line := j.ID + " " + j.Status
	for _, s := range jobStages(j) {
		line += fmt.Sprintf("  %s %s", s.name, s.Count())
		if s.Failed > 0 {
			line += fmt.Sprintf(" (%d failed)", s.Failed)
		}
	}
	if line != p.last {
		p.last = line
		fmt.Fprintln(p.w, line)
	}
}

// redraw replaces the block drawn before with the job's state.
func (p *progressView) redraw(j *client.Job) {
	lines := []string{fmt.Sprintf("job %s  %s  %s", j.ID, j.Status, since(p.start))}
	for _, s := range jobStages(j) {
		item := fmt.Sprintf("  %-9s %s %s", s.name, bar(s.Done+s.Failed, s.Known(), 30), s.Count())
		if s.Failed > 0 {
			item += fmt.Sprintf("  %d failed", s.Failed)
		}
		lines = append(lines, item)
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF", p.drawn) // to the start of the block's first line
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K" + l + "\n")
	}
	for range p.drawn - len(lines) { // a block that shrank
		b.WriteString("\x1b[2K\n")
	}
	p.drawn = max(p.drawn, len(lines))
	io.WriteString(p.w, b.String())
}

type stage struct {
	name string
	client.StageProgress
}

// jobStages are the job's stages in their order.
func jobStages(j *client.Job) []stage {
	stages := j.Stages()
	var out []stage
	for _, name := range stageOrder {
		if s, ok := stages[name]; ok {
			out = append(out, stage{name, s})
		}
	}
	return out
}

func bar(done, total, width int) string {
	filled := 0
	if total > 0 {
		filled = min(width, done*width/total)
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }
