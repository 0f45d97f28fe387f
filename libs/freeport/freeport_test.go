package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestPickIsBelowTheEphemeralRangeAndFree: every port is distinct, below
// the range the kernel assigns to :0 listeners, and can be listened on.
func TestPickIsBelowTheEphemeralRangeAndFree(t *testing.T) {
	ports, err := Pick(20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 20 {
		t.Fatalf("got %d ports, want 20", len(ports))
	}
	high := ephemeralLow()
	seen := map[int]bool{}
	for _, p := range ports {
		if p < lowest || p >= high {
			t.Errorf("port %d outside %d..%d", p, lowest, high-1)
		}
		if seen[p] {
			t.Errorf("port %d picked twice", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d not free: %v", p, err)
			continue
		}
		l.Close()
	}
}

// TestPickSkipsATakenPort: in a range of two ports where a listener holds
// one, the other is picked every time, and asking for both fails.
func TestPickSkipsATakenPort(t *testing.T) {
	var low int
	for low == 0 {
		held, err := Pick(1)
		if err != nil {
			t.Fatal(err)
		}
		if next, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(held[0]+1)); err == nil {
			next.Close() // the port beside it is free too
			low = held[0]
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(low))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 50 {
		ports, err := pick(1, low, low+2)
		if err != nil {
			t.Fatal(err)
		}
		if ports[0] != low+1 {
			t.Fatalf("picked %d, want %d (%d is held)", ports[0], low+1, low)
		}
	}
	if ports, err := pick(2, low, low+2); err == nil {
		t.Fatalf("picked %v from a range with one free port", ports)
	}
}

// TestKernelNeverHandsOutAPickedPort: the kernel's own :0 listeners land
// in the ephemeral range, so they cannot take a picked port.
func TestKernelNeverHandsOutAPickedPort(t *testing.T) {
	high := ephemeralLow()
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p < high {
			t.Fatalf("the kernel gave :0 the port %d, below %d where Pick picks", p, high)
		}
	}
}
