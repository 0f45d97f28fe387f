package charttest

import (
	"encoding/json"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/partita/partita/internal/compose"
	"github.com/partita/partita/libs/config"
)

// existingSecretValue is what an existingSecret would hold for the
// variable: a secrets key is 32 bytes in base64, the rest any text.
func existingSecretValue(name string) string {
	if name == "PARTITA_SECRETS_KEY" {
		return "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	}
	return "ak_an-existing-secrets-key"
}

// loadContainer loads a rendered container's configuration as the binary
// would in its pod: the ConfigMap file its --config names (through its
// volume mount), its environment (secrets read from the rendered Secret,
// or stand-ins for an existing one) and its arguments after `serve`, with
// the project's own loader (strict YAML: an unknown key is an error).
func loadContainer(t *testing.T, rel *release, spec corev1.PodSpec, c corev1.Container) (*compose.ServeConfig, error) {
	t.Helper()
	if len(c.Args) == 0 || c.Args[0] != "serve" || len(c.Command) != 0 {
		t.Fatalf("container %s: args %v, want `serve …` on the image's entrypoint", c.Name, c.Args)
	}
	args := slices.Clone(c.Args[1:])
	for i, a := range args {
		file, ok := strings.CutPrefix(a, "--config=")
		if !ok {
			continue
		}
		args[i] = "--config=" + configFile(t, rel, spec, c, file)
	}
	env := containerEnv(t, rel, c)
	cfg := &compose.ServeConfig{}
	_, err := config.Load(cfg, "partita serve", args, func(k string) string { return env[k] })
	return cfg, err
}

// containerEnv is a rendered container's environment: its values, and
// secrets read from the rendered Secret (or stand-ins for an existing one).
func containerEnv(t *testing.T, rel *release, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if o, ok := rel.get("Secret", ref.Name); ok {
				env[e.Name] = string(o.Value.(*corev1.Secret).Data[ref.Key])
			} else {
				env[e.Name] = existingSecretValue(e.Name)
			}
		default:
			t.Fatalf("container %s: env %s from %+v", c.Name, e.Name, e.ValueFrom)
		}
	}
	return env
}

// configFile writes the ConfigMap key that path file resolves to in the
// container (mountPath/key of a configMap volume) to a temporary file.
func configFile(t *testing.T, rel *release, spec corev1.PodSpec, c corev1.Container, file string) string {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if path.Dir(file) != m.MountPath {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			o, ok := rel.get("ConfigMap", v.ConfigMap.Name)
			if !ok {
				t.Fatalf("ConfigMap %s not rendered", v.ConfigMap.Name)
			}
			data, ok := o.Value.(*corev1.ConfigMap).Data[path.Base(file)]
			if !ok {
				t.Fatalf("ConfigMap %s has no key %s", v.ConfigMap.Name, path.Base(file))
			}
			local := filepath.Join(t.TempDir(), path.Base(file))
			if err := os.WriteFile(local, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			return local
		}
	}
	t.Fatalf("container %s: --config=%s is on no configMap mount", c.Name, file)
	return ""
}

// checkConfig loads every container's configuration and checks that it is
// the shape's: an embedded NATS and local artifacts on the volume for the
// all-in-one pod, the cluster at R3 and S3 for each service.
func checkConfig(t *testing.T, s shape, rel *release) {
	t.Helper()
	for _, w := range rel.workloads() {
		for _, c := range w.template.Spec.Containers {
			cfg, err := loadContainer(t, rel, w.template.Spec, c)
			if err != nil {
				t.Errorf("%s %s: the binary would not start: %v", w.kind, w.name, err)
				continue
			}
			p := cfg.Platform
			if p.ORTLib != "/usr/local/lib/libonnxruntime.so.1" {
				t.Errorf("%s: ort_lib %q", w.name, p.ORTLib)
			}
			if cfg.Gateway.Addr != ":8080" {
				t.Errorf("%s: gateway listens on %q, want :8080", w.name, cfg.Gateway.Addr)
			}
			if !s.micro {
				if cfg.Targets != compose.All || p.NATSURL != "" || p.DataDir != "/data" || p.Store.Backend != "local" || p.Store.Dir != "/data/artifacts" {
					t.Errorf("%s: targets %q, nats %q, data %q, store %s %q: want all, embedded, /data, local /data/artifacts", w.name, cfg.Targets, p.NATSURL, p.DataDir, p.Store.Backend, p.Store.Dir)
				}
				if len(cfg.Gateway.AdminKey) < 16 {
					t.Errorf("%s: admin key %q", w.name, cfg.Gateway.AdminKey)
				}
				if p.SecretsKey == "" {
					t.Errorf("%s: no secrets key: the webhook secrets would be kept in clear", w.name)
				}
				continue
			}
			svc := strings.TrimPrefix(w.name, "partita-")
			if cfg.Targets != svc || !slices.Contains(compose.Services, svc) {
				t.Errorf("%s: target %q", w.name, cfg.Targets)
			}
			if reads := svc == "gateway" || svc == "webhooks"; reads != (p.SecretsKey != "") {
				t.Errorf("%s: secrets key %q: the gateway and the webhook dispatcher need it (they read the webhook secrets), no other service", w.name, p.SecretsKey)
			}
			if p.NATSURL != "nats://nats.nats.svc.cluster.local:4222" || p.Replicas != 3 {
				t.Errorf("%s: nats %q replicas %d, want the nats release at R3", w.name, p.NATSURL, p.Replicas)
			}
			if p.Store.Backend != "s3" || p.Store.Endpoint == "" || !p.Store.UseSSL {
				t.Errorf("%s: store %+v, want s3 over TLS", w.name, p.Store)
			}
			wantAdmin := ":9090"
			if svc == "gateway" {
				wantAdmin = ""
				if len(cfg.Gateway.AdminKey) < 16 {
					t.Errorf("%s: admin key %q", w.name, cfg.Gateway.AdminKey)
				}
			} else if cfg.Gateway.AdminKey != "" {
				t.Errorf("%s: a service other than the gateway has the admin key", w.name)
			}
			if cfg.AdminAddr != wantAdmin {
				t.Errorf("%s: admin_addr %q, want %q", w.name, cfg.AdminAddr, wantAdmin)
			}
		}
	}
}

// TestConfigUnknownKeyFails: a key inside a known section passes the
// chart's schema (the binary owns those) but the binary's strict loader
// refuses it, and so does this test.
func TestConfigUnknownKeyFails(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"all-in-one":    {"--set", "config.scorer.workerz=3"},
		"microservices": {"-f", microservices(t), "--set", "config.platform.natsurl=nats://x:4222"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rel, err := template(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range rel.workloads() {
				_, err := loadContainer(t, rel, w.template.Spec, w.template.Spec.Containers[0])
				if err == nil || !strings.Contains(err.Error(), "not found") {
					t.Errorf("%s loaded a configuration with an unknown key: %v", w.name, err)
				}
			}
		})
	}
}

// TestConfigValuesReachTheBinary: values under config: are what the
// processes load (over the chart's own), e.g. a tier and a worker count.
func TestConfigValuesReachTheBinary(t *testing.T) {
	t.Parallel()
	rel, err := template(t, "-f", microservices(t), "--set", "config.scorer.workers=7",
		"--set", "config.tiers.gold.requests_per_second=500", "--set", "config.log.level=debug")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range rel.workloads() {
		cfg, err := loadContainer(t, rel, w.template.Spec, w.template.Spec.Containers[0])
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if cfg.Scorer.Workers != 7 || cfg.Log.Level != "debug" {
			t.Errorf("%s: scorer workers %d, log level %q", w.name, cfg.Scorer.Workers, cfg.Log.Level)
		}
		if tier, ok := cfg.Tiers["gold"]; !ok || tier.RequestsPerSecond != 500 {
			t.Errorf("%s: tier gold %+v %t", w.name, tier, ok)
		}
	}
}

// TestConfigChecksumIgnoresTiers: a tier or price change is applied by the
// running processes (they read the file again), so it does not roll the
// pods; any other change does.
func TestConfigChecksumIgnoresTiers(t *testing.T) {
	t.Parallel()
	checksum := func(args ...string) string {
		rel, err := template(t, append([]string{"-f", microservices(t)}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return rel.workloads()[0].template.Annotations["checksum/config"]
	}
	base := checksum()
	if got := checksum("--set", "config.tiers.gold.requests_per_second=500"); got != base {
		t.Errorf("a tier change rolls the pods")
	}
	if got := checksum("--set", "config.scorer.workers=7"); got == base {
		t.Errorf("a scorer change does not roll the pods")
	}
}

// TestSchemaKnowsEveryConfigSection: values.schema.json's config takes
// exactly the sections the binary reads, so a section added to the
// binary can be set through the chart and a removed one is refused.
func TestSchemaKnowsEveryConfigSection(t *testing.T) {
	t.Parallel()
	raw := chartFile(t, "values.schema.json")
	var schema struct {
		Properties struct {
			Config struct {
				AdditionalProperties *bool                      `json:"additionalProperties"`
				Properties           map[string]json.RawMessage `json:"properties"`
			} `json:"config"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	cfg := schema.Properties.Config
	if cfg.AdditionalProperties == nil || *cfg.AdditionalProperties {
		t.Error("the schema's config takes sections it does not name")
	}
	got := slices.Sorted(maps.Keys(cfg.Properties))
	if want := compose.ConfigSections(); !slices.Equal(got, want) {
		t.Errorf("the schema's config sections are %v, the binary's %v", got, want)
	}
}
