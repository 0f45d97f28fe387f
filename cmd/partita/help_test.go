package main

import (
	"bytes"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/internal/testbin"
)

// commandPaths are the arguments that name every command of the command
// table below root (root itself is nil), help topics and cobra's help and
// completion commands included, hidden ones (__complete) left out.
func commandPaths(root *cobra.Command) [][]string {
	paths := [][]string{nil}
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Deprecated != "" { // help, which is not "available", stays
				continue
			}
			p := append(slices.Clone(path), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(root, nil)
	return paths
}

// TestHelpOfEveryCommand runs the binary with -h, --help and as `partita
// help …` for every command and subcommand of the command table, so that a
// new command is covered as it is added: each exits 0, prints on stdout
// only, names the command, lists every flag the command has, and says the
// same all three ways.
func TestHelpOfEveryCommand(t *testing.T) {
	bin := testbin.Partita(t)
	root := rootCmd()
	root.InitDefaultHelpCmd() // as Execute does
	paths := commandPaths(root)
	var names []string
	for _, p := range paths {
		names = append(names, strings.Join(p, " "))
	}
	for _, want := range []string{"dev", "serve", "bench", "chaos", "submit", "jobs list", "models alias", "tenants keys rotate",
		"usage", "exit-codes", "version", "help", "completion bash"} {
		require.Contains(t, names, want, "the walk finds every command")
	}
	for _, p := range paths {
		cmd, _, err := root.Find(p)
		require.NoError(t, err)
		path := cmd.CommandPath() // "partita models alias"
		named := path
		if cmd.IsAdditionalHelpTopicCommand() {
			named = cmd.Parent().CommandPath() + " help " + cmd.Name()
		}
		t.Run(path, func(t *testing.T) {
			var shown []string
			for _, args := range [][]string{append(slices.Clone(p), "-h"), append(slices.Clone(p), "--help"), append([]string{"help"}, p...)} {
				stdout, stderr, code := runBinary(t, bin, args...)
				assert.Equal(t, exitOK, code, "partita %s: %s", strings.Join(args, " "), stderr)
				assert.Empty(t, stderr, "partita %s: help goes to stdout", strings.Join(args, " "))
				assert.NotContains(t, stdout, "help requested")
				assert.Contains(t, stdout, named, "partita %s names the command", strings.Join(args, " "))
				shown = append(shown, stdout)
			}
			assert.Equal(t, shown[0], shown[1], "-h and --help")
			assert.Equal(t, shown[0], shown[2], "%s -h and partita help %s", path, strings.Join(p, " "))
			if cmd.Annotations[passthrough] != "" {
				assert.True(t, cmd.HasAvailableLocalFlags(), "%s shows the flags it parses itself", path)
			}
			cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if !f.Hidden {
					assert.Contains(t, shown[0], "--"+f.Name+" ", "%s -h lists --%s", path, f.Name)
				}
			})
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					assert.Contains(t, shown[0], path+" "+sub.Name(), "%s -h lists its subcommand %s", path, sub.Name())
				}
			}
		})
	}
}

// runBinary runs bin with stdout and stderr piped and returns them with
// its exit code.
func runBinary(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errOut.String(), code
}
