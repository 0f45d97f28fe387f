package scorer

import (
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/platform"
	"github.com/partita/partita/services/scorer/runtime"
)

// Option changes how the scorer is composed.
type Option func(*Service)

// WithRuntimes replaces the model runtimes (by kind).
func WithRuntimes(rs runtime.Runtimes) Option { return func(s *Service) { s.runtimes = rs } }

// WithMiddleware wraps the score handler (tracing, fault injection).
func WithMiddleware(mw ...message.HandlerMiddleware) Option {
	return func(s *Service) { s.middleware = append(s.middleware, mw...) }
}

// Module is the scorer as a target of a Partita process.
func Module(opts ...Option) app.Module {
	cfg := &Config{}
	return app.Module{
		Name:   "scorer",
		Config: cfg,
		Build: func(p *platform.Platform, _ app.Health) lifecycle.Service {
			defaults := WithRuntimes(runtime.Default(runtime.DefaultsConfig{
				ORTLib:            p.ORTLib(),
				IntraOpThreads:    cfg.IntraOpThreads,
				BatchRows:         cfg.BatchRows,
				RemoteConcurrency: cfg.RemoteConcurrency,
				RemoteTimeout:     cfg.RemoteTimeout,
				RemoteClient:      p.OutboundClient(0),
			}))
			return New(*cfg, p, append([]Option{defaults}, opts...)...)
		},
	}
}
