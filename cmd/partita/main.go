// Command partita is Partita in one binary: `partita dev` runs everything
// in one process, `partita serve --target=…` runs chosen services, and the
// other commands are the client of the REST API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/libs/buildinfo"
	"github.com/partita/partita/libs/config"
)

const rootLong = `partita — split, score, optimize and aggregate ML jobs

Client commands read PARTITA_URL (default http://127.0.0.1:8080) and
PARTITA_API_KEY; tenants reads PARTITA_ADMIN_KEY instead.

Output: tables and summaries when stdout is a terminal; otherwise the API's
JSON document as it came, one line (scripts and jq). -o json|yaml|csv|jsonl|table
(or --format, --json) chooses; -o FILE writes to FILE, its format from its
extension (.json, .yaml, .csv, .jsonl, .txt) or --format, and only when the
command succeeded. Progress goes to stderr, and only to a terminal.

` + exitCodesHelp

// passthrough marks the commands that parse their own flags.
const passthrough = "passthrough"

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	root := rootCmd()
	if len(args) == 0 {
		root.SetOut(os.Stderr)
		_ = root.Usage()
		return exitUsage
	}
	root.SetArgs(args)
	ctx := context.Background()
	if cmd, _, err := root.Find(args); err != nil || cmd.Annotations[passthrough] == "" {
		// A client command interrupted stops waiting with exit 4; dev and
		// serve handle their own signals.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
	}
	return report(root.ExecuteContext(ctx))
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "partita",
		Short:         "split, score, optimize and aggregate ML jobs",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetUsageFunc(func(c *cobra.Command) error { return writeUsage(c.OutOrStderr(), c) })
	root.SetHelpFunc(help)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w (partita %s -h shows its flags)", err, strings.TrimPrefix(c.CommandPath(), "partita "))}
	})
	root.AddCommand(
		ownFlags("dev [--data-dir DIR] [--http 127.0.0.1:8080]", "all services in one process, embedded NATS", devLong,
			func() *flag.FlagSet { return config.FlagSet(&devConfig{}, "partita dev") }, runDev),
		ownFlags("serve --target=gateway,ingest,splitter,scorer,optimizer,aggregator [--nats-url URL] [--config FILE]", "run chosen services", serveLong,
			func() *flag.FlagSet { return config.FlagSet(&compose.ServeConfig{}, "partita serve") }, runServe),
		ownFlags("bench <scenario|all|report> [--runs N] [--tiny] [--out FILE]", "benchmarks, see docs/benchmarks.md", benchLong(),
			func() *flag.FlagSet { return newBenchFlags().fs }, runBench),
		ownFlags("chaos [--seed N] [--runs N] [--topology single,cluster] [--faults K,…]", "fault-injection suite, see docs/operations.md", chaosLong,
			func() *flag.FlagSet { return newChaosFlags().fs }, runChaos),
		submitCmd(), jobsCmd(), modelsCmd(),
		usageCmd("usage [--from YYYY-MM-DD] [--to YYYY-MM-DD]", "the tenant's usage by day", "/v1/usage", tenantClient, tenantUsageDoc),
		tenantsCmd(),
		&cobra.Command{Use: "exit-codes", Short: "the exit codes of the client commands", Long: exitCodesHelp},
		&cobra.Command{Use: "version", Short: "the version of this binary", Args: cobra.NoArgs,
			Run: func(c *cobra.Command, _ []string) {
				fmt.Fprintf(c.OutOrStdout(), "partita %s (%s)\n", buildinfo.String(), buildinfo.Platform())
			}},
	)
	root.InitDefaultCompletionCmd()
	return root
}

// ownFlags is a command that parses its flags itself, with the flag
// package: flags makes that flag set, shown by -h and `partita help`.
func ownFlags(use, short, long string, flags func() *flag.FlagSet, run func([]string) int) *cobra.Command {
	cmd := &cobra.Command{
		Use:                use,
		Short:              short,
		Long:               long,
		DisableFlagParsing: true,
		Annotations:        map[string]string{passthrough: "yes"},
		RunE: func(c *cobra.Command, args []string) error {
			if asksHelp(flags(), args) {
				return c.Help()
			}
			if code := run(args); code != exitOK {
				return &exitError{code: code, err: fmt.Errorf("exit %d", code), quiet: true}
			}
			return nil
		},
	}
	cmd.Flags().AddGoFlagSet(flags()) // for the help only: cobra does not parse them
	return cmd
}

// asksHelp tells whether args ask for help (-h, -help, --help) as fs
// would parse them, after the positional arguments they begin with (the
// scenario of bench). A bad flag before it is the command's to report.
func asksHelp(fs *flag.FlagSet, args []string) bool {
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		args = args[1:]
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return errors.Is(fs.Parse(args), flag.ErrHelp)
}

// groupCmd is a command of subcommands; alone, or with an unknown
// subcommand, it shows its usage and exits 2.
func groupCmd(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(os.Stderr)
			_ = cmd.Usage()
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return &exitError{code: exitUsage, err: errors.New("a command is required"), quiet: true}
		},
	}
}

// exactArgs requires the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usageErrorf("%s takes %s, got %d argument(s)", cmd.CommandPath(), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// help shows a command's description, then its usage, on stdout.
func help(c *cobra.Command, _ []string) {
	w := c.OutOrStdout()
	text := c.Long
	if text == "" {
		text = c.Short
	}
	fmt.Fprintf(w, "%s\n", strings.TrimSpace(text))
	switch {
	case c.Runnable() || c.HasSubCommands():
		fmt.Fprintln(w)
		_ = writeUsage(w, c)
	case c.HasParent(): // a help topic
		fmt.Fprintf(w, "\nUsage:\n  %s help %s\n", c.Parent().CommandPath(), c.Name())
	}
}

// writeUsage shows a command's use, or its subcommands with theirs, and
// its flags.
func writeUsage(w io.Writer, c *cobra.Command) error {
	var b strings.Builder
	b.WriteString("Usage:\n")
	if !c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "  %s\n", c.UseLine())
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			fmt.Fprintf(&b, "  %s %s\n      %s\n", c.CommandPath(), sub.Use, sub.Short)
		}
	}
	if c.HasExample() {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", c.Example)
	}
	if c.HasAvailableLocalFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", c.LocalFlags().FlagUsages())
	}
	if c.HasHelpSubCommands() {
		b.WriteString("\nHelp topics:\n")
		for _, sub := range c.Commands() {
			if sub.IsAdditionalHelpTopicCommand() {
				fmt.Fprintf(&b, "  %s help %s\n      %s\n", c.CommandPath(), sub.Name(), sub.Short)
			}
		}
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\nRun '%s COMMAND -h' for a command's flags.\n", c.CommandPath())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fail prints err for the commands that parse their own flags (bench,
// chaos) and returns their exit code for a failure.
func fail(err error) int {
	report(err)
	return exitFailed
}
