package safehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// target is an "internal" service on loopback that counts its visitors.
type target struct {
	*httptest.Server
	hits atomic.Int64
}

func newTarget(t *testing.T, h http.HandlerFunc) *target {
	t.Helper()
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) port() string { return tg.URL[len("http://127.0.0.1:"):] }

func okHandler(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }

// resolver answers from a table (never real DNS) and counts lookups.
type resolver struct {
	mu      sync.Mutex
	answers map[string][][]netip.Addr // successive answers; the last one repeats
	lookups map[string]int
}

func newResolver(answers map[string][][]netip.Addr) *resolver {
	return &resolver{answers: answers, lookups: map[string]int{}}
}

func (r *resolver) resolve(_ context.Context, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	as, ok := r.answers[host]
	if !ok {
		return nil, fmt.Errorf("test resolver: no such host %s", host)
	}
	i := min(r.lookups[host], len(as)-1)
	r.lookups[host]++
	return as[i], nil
}

func (r *resolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[host]
}

func addrs(s ...string) [][]netip.Addr {
	var as []netip.Addr
	for _, a := range s {
		as = append(as, netip.MustParseAddr(a))
	}
	return [][]netip.Addr{as}
}

// network stands in for the outside world: it records every address the
// client dials, routes "public" addresses to loopback test servers, and
// reaches nothing else outside loopback.
type network struct {
	mu     sync.Mutex
	routes map[string]string // dialed address → real loopback address
	dialed []string
}

func (n *network) dial(ctx context.Context, nw, addr string) (net.Conn, error) {
	n.mu.Lock()
	n.dialed = append(n.dialed, addr)
	to, routed := n.routes[addr]
	n.mu.Unlock()
	if !routed {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			return nil, fmt.Errorf("test network: no route to %s", addr)
		}
		to = addr
	}
	var d net.Dialer
	return d.DialContext(ctx, nw, to)
}

func (n *network) dials() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dialed...)
}

func TestSSRFCorpusIsNeverContacted(t *testing.T) {
	internal := newTarget(t, okHandler)
	p := internal.port()
	res := newResolver(map[string][][]netip.Addr{
		"localhost.test": addrs("127.0.0.1"),
		"metadata.test":  addrs("169.254.169.254"),
		"private.test":   addrs("10.1.2.3"),
		"mapped.test":    addrs("::ffff:127.0.0.1"),
		"mixed.test":     addrs("203.0.113.10", "127.0.0.1"),
	})
	o := Options{Resolver: res.resolve, MaxRedirects: 5}
	nw := &network{}
	client := newClient(o, nw.dial)
	corpus := []string{
		"http://127.0.0.1:" + p + "/",
		"https://127.0.0.1:" + p + "/",
		"http://127.1.2.3:" + p + "/",
		"http://10.1.2.3/",
		"http://172.16.0.1/",
		"http://192.168.1.1/",
		"http://100.64.0.1/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::1]:" + p + "/",
		"http://[fc00::1]/",
		"http://[fe80::1]/",
		"http://[fe80::1%25eth0]/",
		"http://0.0.0.0:" + p + "/",
		"http://[::]:" + p + "/",
		"http://224.0.0.1/",
		"http://[::ffff:127.0.0.1]:" + p + "/",
		"http://[::ffff:a9fe:a9fe]/",
		"http://[64:ff9b::a9fe:a9fe]/",
		"http://localhost.test:" + p + "/",
		"http://metadata.test/latest/meta-data/",
		"http://private.test/",
		"http://mapped.test:" + p + "/",
		"http://mixed.test:" + p + "/",
	}
	for _, u := range corpus {
		resp, err := client.Get(u)
		if resp != nil {
			_ = resp.Body.Close()
		}
		var fe *ForbiddenAddressError
		require.ErrorAs(t, err, &fe, u)
		assert.ErrorIs(t, err, ErrForbiddenAddress, u)
		assert.ErrorIs(t, CheckURL(t.Context(), u, o), ErrForbiddenAddress, u)
	}
	assert.Zero(t, internal.hits.Load(), "an internal target was contacted")
	assert.Empty(t, nw.dials(), "a forbidden address was dialed")
}

func TestRedirectsToForbiddenAddressesAreRefused(t *testing.T) {
	internal := newTarget(t, okHandler)
	var location atomic.Value
	front := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, location.Load().(string), http.StatusFound)
	})
	res := newResolver(map[string][][]netip.Addr{
		"public.test":   addrs("203.0.113.10"),
		"rebind.test":   addrs("127.0.0.1"),
		"metadata.test": addrs("169.254.169.254"),
	})
	nw := &network{routes: map[string]string{"203.0.113.10:80": front.Listener.Addr().String()}}
	o := Options{Resolver: res.resolve, MaxRedirects: 5}
	require.NoError(t, CheckURL(t.Context(), "http://public.test/", o))

	for _, to := range []string{
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://127.0.0.1:" + internal.port() + "/",
		"http://[::ffff:127.0.0.1]:" + internal.port() + "/",
		"http://rebind.test:" + internal.port() + "/",
		"http://metadata.test/",
	} {
		location.Store(to)
		checked := newClient(o, nw.dial)
		// Without CheckRedirect (the standard policy), the dialer still refuses.
		unchecked := newClient(o, nw.dial)
		unchecked.CheckRedirect = nil
		for _, c := range []*http.Client{checked, unchecked} {
			before := front.hits.Load()
			resp, err := c.Get("http://public.test/")
			if resp != nil {
				_ = resp.Body.Close()
			}
			require.ErrorIs(t, err, ErrForbiddenAddress, to)
			assert.Equal(t, before+1, front.hits.Load(), "the first hop is public and is reached")
		}
	}
	assert.Zero(t, internal.hits.Load(), "a redirect reached an internal target")
	for _, d := range nw.dials() {
		assert.Equal(t, "203.0.113.10:80", d, "only the public address may be dialed")
	}
}

func TestRedirectsBetweenPublicAddresses(t *testing.T) {
	final := newTarget(t, okHandler)
	front := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://other.test/done", http.StatusFound)
	})
	res := newResolver(map[string][][]netip.Addr{
		"public.test": addrs("203.0.113.10"),
		"other.test":  addrs("203.0.113.11"),
	})
	nw := &network{routes: map[string]string{
		"203.0.113.10:80": front.Listener.Addr().String(),
		"203.0.113.11:80": final.Listener.Addr().String(),
	}}

	resp, err := newClient(Options{Resolver: res.resolve, MaxRedirects: 1}, nw.dial).Get("http://public.test/")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 1, final.hits.Load())

	resp, err = newClient(Options{Resolver: res.resolve}, nw.dial).Get("http://public.test/")
	require.NoError(t, err, "with MaxRedirects 0 the redirect itself is the answer")
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.EqualValues(t, 1, final.hits.Load())
}

func TestTooManyRedirects(t *testing.T) {
	loop := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	})
	res := newResolver(map[string][][]netip.Addr{"public.test": addrs("203.0.113.10")})
	nw := &network{routes: map[string]string{"203.0.113.10:80": loop.Listener.Addr().String()}}
	_, err := newClient(Options{Resolver: res.resolve, MaxRedirects: 2}, nw.dial).Get("http://public.test/")
	require.ErrorContains(t, err, "stopped after 2 redirects")
	assert.EqualValues(t, 3, loop.hits.Load())
}

// A name that passed CheckURL and then rebinds to loopback is refused when
// the request connects, and each connection looks the name up exactly once.
func TestDNSRebindingIsCaughtAtConnect(t *testing.T) {
	internal := newTarget(t, okHandler)
	res := newResolver(map[string][][]netip.Addr{
		"rebind.test": {{netip.MustParseAddr("203.0.113.10")}, {netip.MustParseAddr("127.0.0.1")}},
	})
	nw := &network{}
	o := Options{Resolver: res.resolve}
	u := "http://rebind.test:" + internal.port() + "/"

	require.NoError(t, CheckURL(t.Context(), u, o))
	_, err := newClient(o, nw.dial).Get(u)
	require.ErrorIs(t, err, ErrForbiddenAddress)
	assert.Equal(t, 2, res.count("rebind.test"), "one lookup for CheckURL, one for the connection")
	assert.Empty(t, nw.dials())
	assert.Zero(t, internal.hits.Load())
}

func TestRealDialer(t *testing.T) {
	internal := newTarget(t, okHandler)

	_, err := NewClient(Options{}).Get(internal.URL)
	require.ErrorIs(t, err, ErrForbiddenAddress)
	var ue *url.Error
	require.ErrorAs(t, err, &ue, "the client reports the refused URL")
	assert.Zero(t, internal.hits.Load())

	for _, o := range []Options{
		{AllowLoopback: true},
		{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	} {
		resp, err := NewClient(o).Get(internal.URL)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.EqualValues(t, 2, internal.hits.Load())
}

func TestCheckURL(t *testing.T) {
	res := newResolver(map[string][][]netip.Addr{"public.test": addrs("203.0.113.10", "2001:db8::10")})
	o := Options{Resolver: res.resolve}
	require.NoError(t, CheckURL(t.Context(), "https://public.test/hooks?x=1", o))
	for _, bad := range []string{
		"ftp://public.test/",
		"javascript:alert(1)",
		"http:///nohost",
		"http://unknown.test/",
		"://nope",
	} {
		err := CheckURL(t.Context(), bad, o)
		require.Error(t, err, bad)
		assert.False(t, errors.Is(err, ErrForbiddenAddress), bad)
	}
}
