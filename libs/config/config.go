// Package config loads a component's configuration in one place:
// defaults (set by RegisterFlags), then a strict YAML file, then
// environment variables, then command-line flags, then Validate.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is what Load fills: a struct that registers its flags (whose
// defaults are the defaults) and validates itself.
type Config interface {
	RegisterFlags(fs *flag.FlagSet)
	Validate() error
}

// EnvPrefix prefixes the environment variable of every flag: flag
// "nats.url" is read from PARTITA_NATS_URL.
const EnvPrefix = "PARTITA_"

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return EnvPrefix + strings.ToUpper(r.Replace(flagName))
}

// Load fills cfg from args (without the program name) and getenv. The YAML
// file is named by --config or PARTITA_CONFIG. It returns the remaining
// positional arguments.
func Load(cfg Config, name string, args []string, getenv func(string) string) ([]string, error) {
	fs := FlagSet(cfg, name)
	fs.SetOutput(os.Stderr)

	// The file comes before env and flags, so find its name first.
	file := getenv("PARTITA_CONFIG")
	for i, a := range args {
		switch {
		case a == "--config" || a == "-config":
			if i+1 < len(args) {
				file = args[i+1]
			}
		case strings.HasPrefix(a, "--config="), strings.HasPrefix(a, "-config="):
			file = a[strings.Index(a, "=")+1:]
		}
	}
	if file != "" {
		if err := loadFile(cfg, file); err != nil {
			return nil, err
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	return fs.Args(), nil
}

// FlagSet is the flag set Load parses: --config and cfg's flags, their
// defaults cfg's. A command shows it for -h without loading anything.
func FlagSet(cfg Config, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.String("config", "", "YAML configuration file (env PARTITA_CONFIG)")
	cfg.RegisterFlags(fs)
	return fs
}

func loadFile(cfg Config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// DecodeNode decodes one YAML node into v strictly (an unknown field is an
// error), for configuration sections that decode their parts themselves.
func DecodeNode(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}
