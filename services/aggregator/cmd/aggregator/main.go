// Command aggregator runs Partita's aggregator service alone: the same composition as
// `partita serve --target=aggregator` (internal/compose).
package main

import (
	"os"

	"github.com/partita/partita/internal/compose"
)

func main() {
	compose.Main("aggregator", []string{compose.Aggregator}, os.Args[1:])
}
