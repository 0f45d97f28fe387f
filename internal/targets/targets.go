// Package targets is the table of Partita's services: every module that
// `partita dev` runs and `partita serve --target=…` can choose from.
package targets

import (
	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/services/aggregator"
	"github.com/partita/partita/services/gateway"
	"github.com/partita/partita/services/ingest"
	"github.com/partita/partita/services/optimizer"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/splitter"
)

// Modules returns every service in start order: workers first, the
// gateway (which takes traffic) last. scorerOpts compose the scorer.
func Modules(scorerOpts ...scorer.Option) []app.Module {
	return []app.Module{
		ingest.Module(),
		splitter.Module(),
		scorer.Module(scorerOpts...),
		optimizer.Module(),
		aggregator.Module(),
		gateway.WebhooksModule(),
		gateway.Module(),
	}
}
