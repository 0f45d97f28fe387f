// Command scorer runs the score stage alone.
package main

import (
	"os"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/services/scorer"
)

func main() {
	app.Main("scorer", []app.Module{scorer.Module()}, []string{"scorer"}, os.Args[1:])
}
