package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// drainLimit bounds how long a SIGTERM'd process may drain before it is killed.
const drainLimit = 30 * time.Second

// proc is a child process the suite kills and starts again with the same
// command line; its output is appended to one log file across restarts.
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func newProc(name, bin, logDir string, env []string, args ...string) *proc {
	return &proc{name: name, bin: bin, args: args, env: env, log: filepath.Join(logDir, name+".log")}
}

// start runs the process; it must not be running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running", p.name)
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log of %s: %w", p.name, err)
	}
	fmt.Fprintf(f, "=== %s start %s\n", time.Now().UTC().Format(time.RFC3339Nano), p.name)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
	return nil
}

// running reports whether the process was started and has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig and waits for the exit (SIGKILL after drainLimit); a
// process that is not running is only forgotten.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(drainLimit):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// kill is kill -9.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// term is SIGTERM: the process drains and exits.
func (p *proc) term() { p.signal(syscall.SIGTERM) }

// dumpGoroutines is SIGQUIT: the Go runtime writes every goroutine's stack
// to the process's log and exits; the process is started again.
func (p *proc) dumpGoroutines() error {
	p.signal(syscall.SIGQUIT)
	return p.restart()
}

// restart starts the process again after it ended.
func (p *proc) restart() error {
	if p.running() {
		return errors.New(p.name + " is still running")
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	return p.start()
}
