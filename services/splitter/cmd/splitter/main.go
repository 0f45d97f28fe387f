// Command splitter runs Partita's splitter service alone: the same composition as
// `partita serve --target=splitter` (internal/compose).
package main

import (
	"os"

	"github.com/partita/partita/internal/compose"
)

func main() {
	compose.Main("splitter", []string{compose.Splitter}, os.Args[1:])
}
