// Command gateway runs the REST API alone.
package main

import (
	"os"

	"github.com/partita/partita/libs/app"
	"github.com/partita/partita/services/gateway"
)

func main() {
	app.Main("gateway", []app.Module{gateway.Module()}, []string{"gateway"}, os.Args[1:])
}
