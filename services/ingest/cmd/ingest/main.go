// Command ingest runs the ingest stage alone.
package main

import (
	"os"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/services/ingest"
)

func main() {
	app.Main("ingest", []app.Module{ingest.Module()}, []string{"ingest"}, os.Args[1:])
}
