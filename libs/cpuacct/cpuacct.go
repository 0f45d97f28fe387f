// Package cpuacct apportions the process's CPU time among the units of
// work running in it (a part in a stage, the split of a job), so usage can
// be charged in CPU-seconds although Go has no per-goroutine CPU clock and
// ONNX Runtime computes on threads of its own.
//
// Between any two starts or stops of a unit, the process's CPU time (user
// and system, getrusage) is divided evenly among the units running then.
// The sum over units equals the process's CPU while any unit ran; CPU used
// while none ran (idle timers, GC of an idle process) is charged to nobody.
// A unit waiting on I/O beside a busy one gets the same share: it is an
// attribution, exact in sum, not a measurement of each goroutine.
package cpuacct

import (
	"sync"
	"syscall"
	"time"
)

// Accountant divides a CPU clock among the units running.
type Accountant struct {
	clock func() time.Duration

	mu      sync.Mutex
	running int
	last    time.Duration // the clock at the last start or stop
	share   float64       // CPU seconds per running unit, summed since the start
}

// New returns an accountant on the given clock.
func New(clock func() time.Duration) *Accountant {
	return &Accountant{clock: clock, last: clock()}
}

// Process is the accountant of this process's CPU time; every stage of a
// process shares it, so units in different services of one binary divide
// the same clock.
var Process = New(ProcessCPU)

// ProcessCPU is the user and system CPU time the process used so far.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle adds the CPU used since the last event to every running unit's
// share. It must be called with mu held.
func (a *Accountant) settle() {
	now := a.clock()
	if a.running > 0 && now > a.last {
		a.share += (now - a.last).Seconds() / float64(a.running)
	}
	a.last = now
}

// Start begins a unit of work; the returned function ends it and returns
// the CPU-seconds charged to it. Call it once.
func (a *Accountant) Start() (stop func() float64) {
	a.mu.Lock()
	a.settle()
	a.running++
	from := a.share
	a.mu.Unlock()
	var once sync.Once
	var charged float64
	return func() float64 {
		once.Do(func() {
			a.mu.Lock()
			a.settle()
			a.running--
			charged = a.share - from
			a.mu.Unlock()
		})
		return charged
	}
}
