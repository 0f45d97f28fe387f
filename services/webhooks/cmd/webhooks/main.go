// Command webhooks runs Partita's webhooks service alone: the same composition as
// `partita serve --target=webhooks` (internal/compose).
package main

import (
	"os"

	"github.com/partita/partita/internal/compose"
)

func main() {
	compose.Main("webhooks", []string{compose.Webhooks}, os.Args[1:])
}
