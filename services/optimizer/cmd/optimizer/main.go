// Command optimizer runs the optimize stage alone.
package main

import (
	"os"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/services/optimizer"
)

func main() {
	app.Main("optimizer", []app.Module{optimizer.Module()}, []string{"optimizer"}, os.Args[1:])
}
