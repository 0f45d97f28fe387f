// Command ingest runs Partita's ingest service alone: the same composition as
// `partita serve --target=ingest` (internal/compose).
package main

import (
	"os"

	"github.com/partita/partita/internal/compose"
)

func main() {
	compose.Main("ingest", []string{compose.Ingest}, os.Args[1:])
}
