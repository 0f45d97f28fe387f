package scorer

import (
	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/libs/lifecycle"
	"github.com/partita/partita/libs/platform"
	"github.com/partita/partita/services/scorer/runtime"
)

// Module is the scorer as a target of a Partita process.
func Module() app.Module {
	cfg := &Config{}
	return app.Module{
		Name:   "scorer",
		Config: cfg,
		Build: func(p *platform.Platform, _ app.Health) lifecycle.Service {
			return New(*cfg, p, runtime.Runtimes{"logistic": runtime.Logistic{}})
		},
	}
}
