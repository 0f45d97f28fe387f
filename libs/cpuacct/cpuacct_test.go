package cpuacct_test

import (
	"math"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/partita/partita/libs/cpuacct"
)

// clock is a CPU clock the test advances.
type clock struct{ t time.Duration }

func (c *clock) now() time.Duration { return c.t }

func TestCPUIsDividedAmongTheUnitsRunning(t *testing.T) {
	c := &clock{}
	a := cpuacct.New(c.now)
	c.t += 5 * time.Second // nobody ran: charged to nobody
	stopA := a.Start()
	c.t += 2 * time.Second // A alone: 2 s
	stopB := a.Start()
	c.t += 4 * time.Second // A and B: 2 s each
	if got := stopA(); got != 4 {
		t.Fatalf("A charged %v s, want 4", got)
	}
	if got := stopA(); got != 4 {
		t.Fatalf("a second stop changed A's charge to %v", got)
	}
	c.t += 3 * time.Second // B alone: 3 s
	if got := stopB(); got != 5 {
		t.Fatalf("B charged %v s, want 5", got)
	}
	c.t += time.Second
	stopC := a.Start()
	if got := stopC(); got != 0 {
		t.Fatalf("C charged %v s for no CPU, want 0", got)
	}
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestProcessClockChargesAtLeastTheWorkDone(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a := cpuacct.New(cpuacct.ProcessCPU)
	stop := a.Start()
	from := threadCPU(t)
	x := 1.0
	for threadCPU(t)-from < 100*time.Millisecond {
		for i := 0; i < 100000; i++ {
			x = math.Sqrt(x + float64(i))
		}
	}
	burned := (threadCPU(t) - from).Seconds()
	charged := stop()
	if charged < burned {
		t.Fatalf("charged %.3f s of CPU, the unit's own thread burned %.3f s (x=%v)", charged, burned, x)
	}
}
