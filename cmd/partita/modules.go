package main

import (
	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/services/aggregator"
	"github.com/partita/partita/services/gateway"
	"github.com/partita/partita/services/ingest"
	"github.com/partita/partita/services/optimizer"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/splitter"
)

// modules is every service that can be a target, in start order: workers
// first, the gateway (which takes traffic) last.
func modules() []app.Module {
	return []app.Module{
		ingest.Module(),
		splitter.Module(),
		scorer.Module(),
		optimizer.Module(),
		aggregator.Module(),
		gateway.Module(),
	}
}
