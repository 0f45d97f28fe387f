// Command scorer runs Partita's scorer service alone: the same composition as
// `partita serve --target=scorer` (internal/compose).
package main

import (
	"os"

	"github.com/partita/partita/internal/compose"
)

func main() {
	compose.Main("scorer", []string{compose.Scorer}, os.Args[1:])
}
