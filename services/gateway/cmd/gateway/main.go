// Command gateway runs Partita's gateway service alone: the same composition as
// `partita serve --target=gateway` (internal/compose).
package main

import (
	"os"

	"github.com/partita/partita/internal/compose"
)

func main() {
	compose.Main("gateway", []string{compose.Gateway}, os.Args[1:])
}
