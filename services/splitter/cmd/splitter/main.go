// Command splitter runs the split stage alone.
package main

import (
	"os"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/services/splitter"
)

func main() {
	app.Main("splitter", []app.Module{splitter.Module()}, []string{"splitter"}, os.Args[1:])
}
