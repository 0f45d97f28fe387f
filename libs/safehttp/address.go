package safehttp

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrForbiddenAddress is what every refusal matches with errors.Is.
var ErrForbiddenAddress = errors.New("safehttp: forbidden address")

// ForbiddenAddressError is a host that resolved to an address outgoing
// requests may not reach. It matches ErrForbiddenAddress.
type ForbiddenAddressError struct {
	Host   string     // as written in the URL
	Addr   netip.Addr // the refused address
	Reason string     // loopback, private, shared, link-local, multicast, unspecified, reserved
}

func (e *ForbiddenAddressError) Error() string {
	if e.Host == e.Addr.String() {
		return fmt.Sprintf("%v: %s is %s", ErrForbiddenAddress, e.Addr, e.Reason)
	}
	return fmt.Sprintf("%v: %s resolves to %s, which is %s", ErrForbiddenAddress, e.Host, e.Addr, e.Reason)
}

// Unwrap makes errors.Is(err, ErrForbiddenAddress) true.
func (e *ForbiddenAddressError) Unwrap() error { return ErrForbiddenAddress }

// Reasons an address is refused. Options.AllowLoopback allows the first,
// Options.AllowPrivate the next two.
const (
	reasonLoopback = "loopback"
	reasonPrivate  = "private"
	reasonShared   = "shared (carrier-grade NAT)"
)

var (
	// Ranges netip has no predicate for.
	shared   = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT (RFC 6598)
	reserved = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),   // "this network"; connecting to it reaches the host
		netip.MustParsePrefix("240.0.0.0/4"), // reserved, and the broadcast address
		netip.MustParsePrefix("fec0::/10"),   // deprecated site-local
	}
	// nat64 embeds an IPv4 address in its last 32 bits (RFC 6052); a
	// NAT64 gateway forwards to that address, so it is judged by it.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// judged is the address a verdict is about: IPv4-mapped and NAT64
// addresses are judged by the IPv4 address they reach.
func judged(a netip.Addr) netip.Addr {
	a = a.WithZone("").Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return a
}

// reason says why a is not a public unicast address, or "" if it is.
func reason(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return reasonLoopback
	case a.IsPrivate():
		return reasonPrivate
	case shared.Contains(a):
		return reasonShared
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return "reserved"
		}
	}
	return ""
}

// check returns a *ForbiddenAddressError if host's address a may not be reached.
func (o Options) check(host string, a netip.Addr) error {
	j := judged(a)
	for _, p := range o.AllowedCIDRs {
		if p.Contains(a.WithZone("").Unmap()) || p.Contains(j) {
			return nil
		}
	}
	switch r := reason(j); {
	case r == "",
		r == reasonLoopback && o.AllowLoopback,
		(r == reasonPrivate || r == reasonShared) && o.AllowPrivate:
		return nil
	default:
		return &ForbiddenAddressError{Host: host, Addr: a, Reason: r}
	}
}
