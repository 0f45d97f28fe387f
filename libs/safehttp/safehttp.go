// Package safehttp makes outgoing HTTP requests to addresses users chose
// (webhooks) without letting them reach the inside of the deployment:
// loopback, private networks, link-local and cloud metadata addresses are
// refused unless the operator allows them.
//
// The check is made on the resolved address, in the dialer, and the
// connection is opened to that very address: there is no second lookup a
// DNS rebinding could answer differently, and redirects are covered too
// since each hop dials through the same check.
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// Options says which addresses a client may reach and how.
type Options struct {
	AllowLoopback bool           // 127.0.0.0/8, ::1 (`partita dev`)
	AllowPrivate  bool           // 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7
	AllowedCIDRs  []netip.Prefix // allowed whatever they are, e.g. one internal receiver
	// Resolver returns the addresses of a host name; nil uses net.DefaultResolver.
	Resolver     func(ctx context.Context, host string) ([]netip.Addr, error)
	Timeout      time.Duration // whole request, as http.Client.Timeout; 0 for none
	MaxRedirects int           // redirects followed; 0 returns the 3xx response itself
}

// NewClient returns a client that refuses forbidden addresses with an
// error matching ErrForbiddenAddress. It uses no proxy.
func NewClient(o Options) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return newClient(o, d.DialContext)
}

// dialFunc connects to an address already checked.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func newClient(o Options, dial dialFunc) *http.Client {
	g := guard{o: o, dial: dial}
	return &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			DialContext:           g.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if o.MaxRedirects <= 0 {
				return http.ErrUseLastResponse
			}
			if len(via) > o.MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", o.MaxRedirects)
			}
			return CheckURL(req.Context(), req.URL.String(), o)
		},
	}
}

// CheckURL validates a URL before it is used (e.g. when a job is
// submitted): scheme http or https, and a host whose every address may be
// reached. Requests are checked again when they are made.
func CheckURL(ctx context.Context, raw string, o Options) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("check url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("check url %s: scheme must be http or https", u.Redacted())
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("check url %s: no host", u.Redacted())
	}
	if _, err := o.allowed(ctx, host); err != nil {
		return fmt.Errorf("check url %s: %w", u.Redacted(), err)
	}
	return nil
}

// allowed resolves host and returns its addresses if every one of them may
// be reached. A host with one forbidden address is refused as a whole.
func (o Options) allowed(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := o.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, a := range addrs {
		if err := o.check(host, a); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

func (o Options) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	var addrs []netip.Addr
	var err error
	if o.Resolver != nil {
		addrs, err = o.Resolver(ctx, host)
	} else {
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	return addrs, nil
}

// guard is the transport's dialer: resolve once, check, dial what was checked.
type guard struct {
	o    Options
	dial dialFunc
}

func (g guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	addrs, err := g.o.allowed(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		a = a.Unmap()
		if (network == "tcp4" && !a.Is4()) || (network == "tcp6" && !a.Is6()) {
			continue
		}
		c, err := g.dial(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("dial %s: no %s address", address, network)
	}
	return nil, fmt.Errorf("dial %s: %w", address, errors.Join(errs...))
}
