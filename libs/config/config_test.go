package config_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/config"
)

// testConfig is a small component configuration.
type testConfig struct {
	Name    string        `yaml:"name"`
	Port    int           `yaml:"port"`
	Timeout time.Duration `yaml:"timeout"`
	Debug   bool          `yaml:"debug"`
	NATS    struct {
		URL string `yaml:"url"`
	} `yaml:"nats"`
}

func (c *testConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Name, "name", "default-name", "name")
	fs.IntVar(&c.Port, "port", 8080, "port")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Second, "timeout")
	fs.BoolVar(&c.Debug, "debug", false, "debug")
	fs.StringVar(&c.NATS.URL, "nats.url", "nats://default:4222", "NATS URL")
}

var errBadPort = errors.New("port out of range")

func (c *testConfig) Validate() error {
	if c.Port < 1 || c.Port > 65535 {
		return errBadPort
	}
	return nil
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestEnvName(t *testing.T) {
	assert.Equal(t, "PARTITA_NATS_URL", config.EnvName("nats.url"))
	assert.Equal(t, "PARTITA_MAX_ROWS", config.EnvName("max-rows"))
	assert.Equal(t, "PARTITA_PORT", config.EnvName("port"))
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "name: from-file\nport: 9000\ntimeout: 1m\nnats:\n  url: nats://file:4222\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want testConfig
	}{
		{
			name: "defaults",
			want: cfg("default-name", 8080, 5*time.Second, false, "nats://default:4222"),
		},
		{
			name: "file over defaults",
			args: []string{"--config", file},
			want: cfg("from-file", 9000, time.Minute, false, "nats://file:4222"),
		},
		{
			name: "file named by env",
			env:  map[string]string{"PARTITA_CONFIG": file},
			want: cfg("from-file", 9000, time.Minute, false, "nats://file:4222"),
		},
		{
			name: "env over file",
			args: []string{"-config=" + file},
			env:  map[string]string{"PARTITA_PORT": "9100", "PARTITA_NATS_URL": "nats://env:4222", "PARTITA_DEBUG": "true"},
			want: cfg("from-file", 9100, time.Minute, true, "nats://env:4222"),
		},
		{
			name: "flags over env over file",
			args: []string{"--config=" + file, "--port", "9200", "-nats.url=nats://flag:4222"},
			env:  map[string]string{"PARTITA_PORT": "9100", "PARTITA_NATS_URL": "nats://env:4222", "PARTITA_TIMEOUT": "2m"},
			want: cfg("from-file", 9200, 2*time.Minute, false, "nats://flag:4222"),
		},
		{
			name: "empty env values are unset",
			args: []string{"--config", file},
			env:  map[string]string{"PARTITA_PORT": "", "PARTITA_NAME": ""},
			want: cfg("from-file", 9000, time.Minute, false, "nats://file:4222"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c testConfig
			rest, err := config.Load(&c, "test", tc.args, env(tc.env))
			require.NoError(t, err)
			assert.Empty(t, rest)
			assert.Equal(t, tc.want, c)
		})
	}
}

func cfg(name string, port int, timeout time.Duration, debug bool, url string) testConfig {
	c := testConfig{Name: name, Port: port, Timeout: timeout, Debug: debug}
	c.NATS.URL = url
	return c
}

func TestConfigFlagOverridesConfigEnv(t *testing.T) {
	envFile := writeFile(t, "name: env-file\n")
	flagFile := writeFile(t, "name: flag-file\n")
	var c testConfig
	_, err := config.Load(&c, "test", []string{"--config", flagFile}, env(map[string]string{"PARTITA_CONFIG": envFile}))
	require.NoError(t, err)
	assert.Equal(t, "flag-file", c.Name)
}

func TestPositionalArgs(t *testing.T) {
	var c testConfig
	rest, err := config.Load(&c, "test", []string{"--port", "1234", "submit", "spec.yaml"}, env(nil))
	require.NoError(t, err)
	assert.Equal(t, []string{"submit", "spec.yaml"}, rest)
	assert.Equal(t, 1234, c.Port)
}

func TestFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr string // "" for success
	}{
		{"empty file", "", ""},
		{"only a comment", "# nothing here\n", ""},
		{"partial", "debug: true\n", ""},
		{"unknown field", "name: x\nprot: 1\n", "field prot not found"},
		{"unknown nested field", "nats:\n  uri: nats://x\n", "field uri not found"},
		{"wrong type", "port: eighty\n", "cannot unmarshal"},
		{"bad duration", "timeout: soon\n", "line 1: cannot unmarshal !!str `soon` into time.Duration"},
		{"not yaml", "name: [unclosed\n", "config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.content)
			var c testConfig
			_, err := config.Load(&c, "test", []string{"--config", p}, env(nil))
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, 8080, c.Port, "defaults stay")
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Contains(t, err.Error(), p, "the error names the file")
		})
	}

	var c testConfig
	_, err := config.Load(&c, "test", []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, env(nil))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestBadEnv(t *testing.T) {
	var c testConfig
	_, err := config.Load(&c, "test", nil, env(map[string]string{"PARTITA_PORT": "eighty", "PARTITA_TIMEOUT": "soon", "PARTITA_NAME": "fine"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PARTITA_PORT")
	assert.Contains(t, err.Error(), "PARTITA_TIMEOUT", "every bad variable is reported")
	assert.NotContains(t, err.Error(), "PARTITA_NAME")
}

func TestBadFlag(t *testing.T) {
	var c testConfig
	_, err := config.Load(&c, "test", []string{"--nope"}, env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nope")
	_, err = config.Load(&c, "test", []string{"--port", "x"}, env(nil))
	require.Error(t, err)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		file string
	}{
		{name: "from a flag", args: []string{"--port", "0"}},
		{name: "from env", env: map[string]string{"PARTITA_PORT": "70000"}},
		{name: "from the file", file: "port: -1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, tc.file))
			}
			var c testConfig
			_, err := config.Load(&c, "test", args, env(tc.env))
			require.ErrorIs(t, err, errBadPort)
			assert.Contains(t, err.Error(), "invalid configuration")
		})
	}
}
