// Command partita is Partita in one binary: `partita dev` runs everything
// in one process, `partita serve --target=…` runs chosen services, and the
// other commands are the client of the REST API.
package main

import (
	"fmt"
	"os"
)

const usage = `partita — split, score, optimize and aggregate ML jobs

Usage:
  partita dev    [--data-dir DIR] [--http 127.0.0.1:8080]      all services in one process, embedded NATS
  partita serve  --target=gateway,ingest,splitter,scorer,optimizer,aggregator [--nats-url URL] [--config FILE]
  partita submit --spec SPEC.yaml --input DATA.csv [--wait[=60s]] [-o OUT]
  partita models push NAME MODEL.onnx [--alias prod] | list | get NAME | alias NAME ALIAS VERSION[=WEIGHT][,VERSION=WEIGHT]
  partita bench  <scenario|all> [--runs N] [--tiny] [--out FILE]   see docs/benchmarks.md
  partita chaos  [--seed N] [--runs N] [--topology single,cluster] [--faults K,…]   fault-injection suite, see docs/operations.md
  partita jobs   list | get ID | cancel ID | redrive ID [--version V] [--model M] [--timeout-part D] | result ID [-o OUT] | events ID
  partita usage  [--from YYYY-MM-DD] [--to YYYY-MM-DD]           the tenant's usage by day
  partita tenants create NAME --tier free|standard|pro | list | get NAME | set-tier NAME TIER | suspend|resume NAME
                 | delete NAME --confirm NAME | keys rotate NAME [--grace 24h] | usage [--from D] [--to D]

Client commands read PARTITA_URL (default http://127.0.0.1:8080) and PARTITA_API_KEY;
tenants reads PARTITA_ADMIN_KEY instead.
Run 'partita <command> -h' for a command's flags.
`

// Exit codes of client commands.
const (
	exitOK     = 0
	exitFailed = 1 // the job failed, was cancelled or timed out; or a request failed
	exitUsage  = 2
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(exitUsage)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var code int
	switch cmd {
	case "dev":
		code = runDev(args)
	case "serve":
		code = runServe(args)
	case "submit":
		code = runSubmit(args)
	case "jobs":
		code = runJobs(args)
	case "bench":
		code = runBench(args)
	case "chaos":
		code = runChaos(args)
	case "models":
		code = runModels(args)
	case "tenants":
		code = runTenants(args)
	case "usage":
		code = runUsage(args)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "partita: unknown command %q\n\n%s", cmd, usage)
		code = exitUsage
	}
	os.Exit(code)
}
