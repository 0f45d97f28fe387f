package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// devProcess is `partita dev` running as a separate process (Options.Binary),
// so that its RSS and goroutines are the server's alone.
type devProcess struct {
	URL    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
}

// startDevProcess runs `partita dev` on a free port with its data in dir,
// the bench API key for its dev tenant and extra environment, and waits
// until it is ready.
func startDevProcess(ctx context.Context, o Options, dir string, env ...string) (*devProcess, error) {
	if o.Binary == "" {
		return nil, fmt.Errorf("Options.Binary (the partita binary to run) is not set")
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, o.Binary, "dev", "--data-dir", dir, "--http", "127.0.0.1:0", "--log.level", "error")
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "PARTITA_DEV_API_KEY="+APIKey), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s dev: %w", o.Binary, err)
	}
	p := &devProcess{cmd: cmd, exited: make(chan struct{})}
	url, err := bannerURL(stdout)
	go func() { _ = cmd.Wait(); close(p.exited) }()
	if err != nil {
		p.Stop()
		return nil, err
	}
	p.URL = url
	if err := waitHTTP(ctx, url+"/readyz", 60*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Pid is the process id of the server.
func (p *devProcess) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the server has exited (crashed, unless Stop was called).
func (p *devProcess) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop terminates the server and waits for it to exit.
func (p *devProcess) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
}
