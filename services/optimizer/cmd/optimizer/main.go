// Command optimizer runs Partita's optimizer service alone: the same composition as
// `partita serve --target=optimizer` (internal/compose).
package main

import (
	"os"

	"github.com/partita/partita/internal/compose"
)

func main() {
	compose.Main("optimizer", []string{compose.Optimizer}, os.Args[1:])
}
