// Command aggregator runs the aggregate stage and the job watchdog alone.
package main

import (
	"os"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/services/aggregator"
)

func main() {
	app.Main("aggregator", []app.Module{aggregator.Module()}, []string{"aggregator"}, os.Args[1:])
}
