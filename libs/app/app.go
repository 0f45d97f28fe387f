// Package app composes Partita processes: a table of modules (one per
// service), a configuration that holds the platform's and every module's
// settings, and Run, which starts the platform and the chosen modules under
// one lifecycle with health endpoints. `partita dev`, `partita serve
// --target=…` and each service's own main are compositions of the same
// modules.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/partita/partita/libs/config"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/logging"
	"github.com/partita/partita/libs/platform"
)

// Module is one service that can be a target.
type Module struct {
	Name   string
	Config config.Config // the module's settings; may be nil
	Build  func(p *platform.Platform, health Health) lifecycle.Service
}

// Health tells a module whether the whole process is ready.
type Health func() error

// Config is the configuration of a process: platform, logs, the admin
// endpoint, and every module's settings (under its name in YAML).
type Config struct {
	Platform  platform.Config
	Log       logging.Config
	AdminAddr string
	Modules   []Module
}

// RegisterFlags registers every flag.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Platform.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
	fs.StringVar(&c.AdminAddr, "admin-addr", "", "address of /healthz and /readyz for processes without the gateway (e.g. :9090); empty for none")
	for _, m := range c.Modules {
		if m.Config != nil {
			m.Config.RegisterFlags(fs)
		}
	}
}

// Validate checks every part.
func (c *Config) Validate() error {
	errs := []error{c.Platform.Validate(), c.Log.Validate()}
	for _, m := range c.Modules {
		if m.Config != nil {
			errs = append(errs, m.Config.Validate())
		}
	}
	return errors.Join(errs...)
}

// UnmarshalYAML reads platform, log, admin_addr and one section per module, strictly.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("config file must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		var err error
		switch key {
		case "platform":
			err = decodeStrict(val, &c.Platform)
		case "log":
			err = decodeStrict(val, &c.Log)
		case "admin_addr":
			err = val.Decode(&c.AdminAddr)
		default:
			i := slices.IndexFunc(c.Modules, func(m Module) bool { return m.Name == key })
			if i < 0 || c.Modules[i].Config == nil {
				return fmt.Errorf("line %d: unknown section %q", n.Content[i].Line, key)
			}
			err = decodeStrict(val, c.Modules[i].Config)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// Process is a configured process, ready to run.
type Process struct {
	Log      zerolog.Logger
	Platform *platform.Platform
	group    *lifecycle.Group
	services map[string]lifecycle.Service
	admin    string
}

// Service returns the process's service of that name, or nil.
func (p *Process) Service(name string) lifecycle.Service { return p.services[name] }

// Build constructs the platform and the named modules (nothing runs yet).
// extra services run after the modules (e.g. `partita dev`'s setup).
func Build(c *Config, targets []string, log zerolog.Logger, extra ...func(*platform.Platform) lifecycle.Service) (*Process, error) {
	p := platform.New(c.Platform, log)
	proc := &Process{Log: log, Platform: p, admin: c.AdminAddr, services: map[string]lifecycle.Service{}}
	services := []lifecycle.Service{p}
	health := func() error {
		if err := p.Ready(); err != nil {
			return err
		}
		return proc.group.Ready()
	}
	for _, t := range targets {
		i := slices.IndexFunc(c.Modules, func(m Module) bool { return m.Name == t })
		if i < 0 {
			return nil, fmt.Errorf("unknown target %q (targets: %s)", t, strings.Join(Names(c.Modules), ", "))
		}
		svc := c.Modules[i].Build(p, health)
		proc.services[t] = svc
		services = append(services, svc)
	}
	for _, e := range extra {
		services = append(services, e(p))
	}
	proc.group = lifecycle.NewGroup(log, services...)
	return proc, nil
}

// Names lists module names.
func Names(ms []Module) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// Ready reports whether every service of the process is running.
func (p *Process) Ready() error {
	if err := p.Platform.Ready(); err != nil {
		return err
	}
	return p.group.Ready()
}

// Run runs the process until ctx ends or a service fails.
func (p *Process) Run(ctx context.Context) error {
	if p.admin != "" {
		ln, err := net.Listen("tcp", p.admin)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		srv := &http.Server{Handler: AdminHandler(p.Ready), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		p.Log.Info().Str("addr", ln.Addr().String()).Msg("admin endpoint listening")
	}
	return p.group.Run(ctx)
}

// AdminHandler serves /healthz (the process is alive) and /readyz (every
// service is running and NATS is connected).
func AdminHandler(ready Health) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}
