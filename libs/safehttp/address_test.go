package safehttp

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckAddresses(t *testing.T) {
	cases := map[string]string{
		"127.0.0.1":              reasonLoopback,
		"127.9.9.9":              reasonLoopback,
		"::1":                    reasonLoopback,
		"::ffff:127.0.0.1":       reasonLoopback,
		"10.1.2.3":               reasonPrivate,
		"172.16.0.1":             reasonPrivate,
		"172.31.255.254":         reasonPrivate,
		"192.168.1.1":            reasonPrivate,
		"fc00::1":                reasonPrivate,
		"fd12:3456::1":           reasonPrivate,
		"::ffff:10.1.2.3":        reasonPrivate,
		"100.64.0.1":             reasonShared,
		"100.127.255.254":        reasonShared,
		"169.254.169.254":        "link-local",
		"::ffff:169.254.169.254": "link-local",
		"64:ff9b::a9fe:a9fe":     "link-local",
		"fe80::1":                "link-local",
		"fe80::1%eth0":           "link-local",
		"0.0.0.0":                "unspecified",
		"::":                     "unspecified",
		"0.1.2.3":                "reserved",
		"224.0.0.1":              "multicast",
		"ff02::1":                "multicast",
		"255.255.255.255":        "reserved",
		"fec0::1":                "reserved",
		"::ffff:0.0.0.0":         "unspecified",
		"64:ff9b::7f00:1":        reasonLoopback,
		"64:ff9b::a00:1":         reasonPrivate,
		"203.0.113.10":           "",
		"8.8.8.8":                "",
		"2606:4700:4700::1111":   "",
		"64:ff9b::808:808":       "",
		"::ffff:8.8.8.8":         "",
		"172.32.0.1":             "",
		"100.128.0.1":            "",
		"169.255.0.1":            "",
		"2001:db8::1":            "",
	}
	for raw, want := range cases {
		a := netip.MustParseAddr(raw)
		err := Options{}.check(raw, a)
		if want == "" {
			assert.NoError(t, err, raw)
			continue
		}
		var fe *ForbiddenAddressError
		if assert.True(t, errors.As(err, &fe), "%s: %v", raw, err) {
			assert.Equal(t, want, fe.Reason, raw)
			assert.Equal(t, a, fe.Addr, raw)
		}
		assert.ErrorIs(t, err, ErrForbiddenAddress, raw)
	}
}

func TestCheckAllowances(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		addr string
		ok   bool
	}{
		{"loopback allowed", Options{AllowLoopback: true}, "127.0.0.1", true},
		{"mapped loopback allowed", Options{AllowLoopback: true}, "::ffff:127.0.0.1", true},
		{"ipv6 loopback allowed", Options{AllowLoopback: true}, "::1", true},
		{"loopback does not allow private", Options{AllowLoopback: true}, "10.0.0.1", false},
		{"private allowed", Options{AllowPrivate: true}, "192.168.1.1", true},
		{"ula allowed", Options{AllowPrivate: true}, "fc00::1", true},
		{"cgnat allowed with private", Options{AllowPrivate: true}, "100.64.0.1", true},
		{"private does not allow loopback", Options{AllowPrivate: true}, "127.0.0.1", false},
		{"private does not allow metadata", Options{AllowPrivate: true, AllowLoopback: true}, "169.254.169.254", false},
		{"cidr allows exactly its range", Options{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}, "10.9.1.1", true},
		{"cidr matches mapped form", Options{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}, "::ffff:10.9.1.1", true},
		{"cidr outside its range", Options{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}, "10.8.1.1", false},
	}
	for _, c := range cases {
		err := c.o.check(c.addr, netip.MustParseAddr(c.addr))
		if c.ok {
			assert.NoError(t, err, c.name)
		} else {
			require.ErrorIs(t, err, ErrForbiddenAddress, c.name)
		}
	}
}

func TestForbiddenAddressErrorMessage(t *testing.T) {
	err := Options{}.check("metadata.test", netip.MustParseAddr("169.254.169.254"))
	assert.EqualError(t, err, "safehttp: forbidden address: metadata.test resolves to 169.254.169.254, which is link-local")
	err = Options{}.check("10.1.2.3", netip.MustParseAddr("10.1.2.3"))
	assert.EqualError(t, err, "safehttp: forbidden address: 10.1.2.3 is private")
}
