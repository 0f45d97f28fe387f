// Command marosjson writes problems of libs/qp/maros as JSON, for
// bench/cvxopt_maros.py (and any other solver to compare with):
//
//	go run ./examples/qp-fixtures/marosjson -o /tmp/maros GOULDQP3 LISWET5
//
// writes /tmp/maros/GOULDQP3.json and so on; without names it writes every
// problem, each as maros.Case.JSON documents it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/partita/partita/libs/qp/maros"
)

func main() {
	out := flag.String("o", ".", "output directory")
	flag.Parse()
	names := flag.Args()
	if len(names) == 0 {
		names = maros.Names()
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	for _, name := range names {
		c, err := maros.Get(name)
		if err != nil {
			fail(err)
		}
		doc, err := c.JSON()
		if err != nil {
			fail(err)
		}
		if err := os.WriteFile(filepath.Join(*out, c.Name+".json"), doc, 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "marosjson:", err)
	os.Exit(1)
}
