// Package freeport picks loopback TCP ports for servers that a test or a
// harness starts in another process and must name before they run.
//
// A port is picked below the kernel's ephemeral range: a port taken from
// that range (by listening on :0 and closing) can be handed by the kernel
// to any other listener on :0 or to an outgoing connection before the
// server binds it, and the client then talks to the wrong server. Below
// the range, the kernel hands out nothing of its own.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the first port picked from: above the well-known and most
// registered ports' crowd.
const lowest = 10000

// rangeFile holds the kernel's ephemeral range on Linux.
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// defaultEphemeralLow is where the range starts when rangeFile cannot be
// read: Linux's default; IANA's (49152) is above it.
const defaultEphemeralLow = 32768

// Pick returns n distinct loopback ports below the ephemeral range that
// nothing listens on now.
func Pick(n int) ([]int, error) {
	high := ephemeralLow()
	if high-lowest < 1000 {
		return nil, fmt.Errorf("freeport: the ephemeral range starts at %d, too low to pick below it", high)
	}
	return pick(n, lowest, high)
}

// pick returns n distinct ports in low..high-1 that nothing listens on now.
func pick(n, low, high int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100*n {
			return nil, fmt.Errorf("freeport: no %d free ports in %d..%d after %d tries", n, low, high-1, tries)
		}
		p := low + rand.IntN(high-low)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // taken (or held by an earlier pick of this call)
		}
		lns = append(lns, l)
		ports = append(ports, p)
	}
	return ports, nil
}

// Addr is one picked port as a loopback host:port.
func Addr() (string, error) {
	ports, err := Pick(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
}

func ephemeralLow() int {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return defaultEphemeralLow
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return defaultEphemeralLow
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return defaultEphemeralLow
	}
	return low
}
