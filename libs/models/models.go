// Package models is the per-tenant model registry: immutable numbered
// versions whose files live in the artifact store and whose metadata live
// in JetStream KV, and aliases that point at one version or split parts
// between versions by weight (A/B).
package models

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"
)

// Kinds of model the scorer can run.
const (
	KindLogistic = "logistic"
	KindONNX     = "onnx"
	KindRemote   = "remote"
)

// ErrNotFound is returned for a model, version or alias that does not exist.
var ErrNotFound = errors.New("models: not found")

// Tensor describes one model input or output.
type Tensor struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Shape []int64 `json:"shape"`
}

// Version is one immutable model version.
type Version struct {
	Number    int       `json:"version"`
	Kind      string    `json:"kind"`
	Digest    string    `json:"sha256,omitempty"`
	Size      int64     `json:"size,omitempty"`
	Key       string    `json:"key,omitempty"`      // object key of the model file
	Endpoint  string    `json:"endpoint,omitempty"` // remote models: OIP v2 base URL
	Width     int       `json:"width"`              // number of input features
	Inputs    []Tensor  `json:"inputs,omitempty"`
	Outputs   []Tensor  `json:"outputs,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Alias points at one version, or at several with weights.
type Alias struct {
	Version int            `json:"version,omitempty"`
	Weights map[string]int `json:"weights,omitempty"` // version number → weight
}

// Model is a named model of a tenant.
type Model struct {
	Tenant   string           `json:"tenant"`
	Name     string           `json:"name"`
	Versions []Version        `json:"versions"`
	Aliases  map[string]Alias `json:"aliases,omitempty"`
}

// Version returns version n.
func (m *Model) Version(n int) (Version, bool) {
	for _, v := range m.Versions {
		if v.Number == n {
			return v, true
		}
	}
	return Version{}, false
}

// Resolve picks the version a part uses: a version number, "latest", or an
// alias; a weighted alias picks deterministically from (job, part), so a
// redelivered part uses the same version.
func (m *Model) Resolve(ref, job, part string) (Version, error) {
	if n, err := strconv.Atoi(ref); err == nil {
		if v, ok := m.Version(n); ok {
			return v, nil
		}
		return Version{}, fmt.Errorf("%w: model %s has no version %d", ErrNotFound, m.Name, n)
	}
	if ref == "latest" {
		if len(m.Versions) == 0 {
			return Version{}, fmt.Errorf("%w: model %s has no versions", ErrNotFound, m.Name)
		}
		return m.Versions[len(m.Versions)-1], nil
	}
	a, ok := m.Aliases[ref]
	if !ok {
		return Version{}, fmt.Errorf("%w: model %s has no alias %q", ErrNotFound, m.Name, ref)
	}
	n := a.Version
	if len(a.Weights) > 0 {
		n = a.pick(job + "/" + part)
	}
	if v, ok := m.Version(n); ok {
		return v, nil
	}
	return Version{}, fmt.Errorf("%w: alias %s of model %s points at missing version %d", ErrNotFound, ref, m.Name, n)
}

func (a Alias) pick(key string) int {
	versions := make([]int, 0, len(a.Weights))
	total := 0
	for k, w := range a.Weights {
		n, _ := strconv.Atoi(k)
		versions = append(versions, n)
		total += w
	}
	slices.Sort(versions)
	h := fnv.New64a()
	h.Write([]byte(key))
	x := int(h.Sum64() % uint64(max(total, 1)))
	for _, n := range versions {
		x -= a.Weights[strconv.Itoa(n)]
		if x < 0 {
			return n
		}
	}
	return versions[len(versions)-1]
}

// Ref is "name@version" as recorded per part.
func Ref(name string, version int) string { return name + "@" + strconv.Itoa(version) }
