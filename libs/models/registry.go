package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/kvwatch"
)

// Bucket is the KV bucket of model metadata, keyed "<tenant>.<name>".
const Bucket = "partita_models"

// Registry stores models: files in the artifact store, metadata in KV.
type Registry struct {
	kv    jetstream.KeyValue
	store artifacts.Store

	mu       sync.RWMutex
	watching bool                   // the cache is used only while Watch keeps it current
	cache    map[string]cachedModel // kept current by Watch and by this registry's writes
}

// cachedModel is a model and its revision: a value the watch delivers
// late never replaces a newer one this registry wrote.
type cachedModel struct {
	m   *Model
	rev uint64
}

// Open creates or binds the registry's bucket.
func Open(ctx context.Context, js jetstream.JetStream, store artifacts.Store, o kv.Options) (*Registry, error) {
	b, err := kv.Open(ctx, js, kv.Bucket{Name: Bucket, History: 5}, o)
	if err != nil {
		return nil, err
	}
	return &Registry{kv: b, store: store, cache: map[string]cachedModel{}}, nil
}

func key(tenant, name string) string { return tenant + "." + name }

// Get returns a model of a tenant, from the watch cache when present.
func (r *Registry) Get(ctx context.Context, tenant, name string) (*Model, error) {
	r.mu.RLock()
	c, ok := r.cache[key(tenant, name)]
	ok = ok && r.watching
	r.mu.RUnlock()
	if ok {
		return c.m, nil
	}
	return r.get(ctx, tenant, name)
}

func (r *Registry) get(ctx context.Context, tenant, name string) (*Model, error) {
	m, _, err := kv.Get[Model](ctx, r.kv, key(tenant, name))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("%w: model %q", ErrNotFound, name)
	}
	return m, err
}

// update applies change to a model with compare-and-set (creating it when
// create is true and it is missing).
func (r *Registry) update(ctx context.Context, tenant, name string, create bool, change func(*Model) error) (*Model, error) {
	m, rev, err := kv.UpdateRev(ctx, r.kv, key(tenant, name), create, func(m *Model) error {
		if m == nil {
			return fmt.Errorf("%w: model %q", ErrNotFound, name)
		}
		if m.Name == "" {
			m.Tenant, m.Name = tenant, name
		}
		return change(m)
	})
	if err != nil {
		return nil, err
	}
	r.remember(m, rev)
	return m, nil
}

// Push stores a new version from a model file already validated by the
// caller (kind, width and tensors in v) and returns it with its number.
// The file is written before the metadata, so a failed push leaves no
// version pointing at a missing file.
func (r *Registry) Push(ctx context.Context, tenant, name string, file []byte, v Version) (Version, error) {
	sum := sha256.Sum256(file)
	v.Digest = hex.EncodeToString(sum[:])
	v.Size = int64(len(file))
	v.CreatedAt = time.Now().UTC()
	staging := contracts.ModelBlobKey(tenant, name, v.Digest)
	if _, err := r.store.Put(ctx, staging, bytes.NewReader(file), int64(len(file))); err != nil {
		return Version{}, fmt.Errorf("store model file: %w", err)
	}
	v.Key = staging
	m, err := r.update(ctx, tenant, name, true, func(m *Model) error {
		v.Number = 1
		if len(m.Versions) > 0 {
			v.Number = m.Versions[len(m.Versions)-1].Number + 1
		}
		m.Versions = append(m.Versions, v)
		return nil
	})
	if err != nil {
		return Version{}, err
	}
	return m.Versions[len(m.Versions)-1], nil
}

// SetAlias points an alias at a version or at weighted versions.
func (r *Registry) SetAlias(ctx context.Context, tenant, name, alias string, a Alias) (*Model, error) {
	return r.update(ctx, tenant, name, false, func(m *Model) error {
		check := func(n int) error {
			if _, ok := m.Version(n); !ok {
				return fmt.Errorf("%w: model %s has no version %d", ErrNotFound, name, n)
			}
			return nil
		}
		if len(a.Weights) == 0 {
			if err := check(a.Version); err != nil {
				return err
			}
		}
		for k := range a.Weights {
			var n int
			if _, err := fmt.Sscan(k, &n); err != nil {
				return fmt.Errorf("alias %s: weight key %q is not a version number", alias, k)
			}
			if err := check(n); err != nil {
				return err
			}
		}
		if m.Aliases == nil {
			m.Aliases = map[string]Alias{}
		}
		m.Aliases[alias] = a
		return nil
	})
}

// File reads a version's model file.
func (r *Registry) File(ctx context.Context, v Version) ([]byte, error) {
	rc, _, err := r.store.Get(ctx, v.Key)
	if err != nil {
		return nil, fmt.Errorf("model file %s: %w", v.Key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read model file %s: %w", v.Key, err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != v.Digest {
		return nil, fmt.Errorf("model file %s: sha256 mismatch", v.Key)
	}
	return b, nil
}

// List returns a tenant's models.
func (r *Registry) List(ctx context.Context, tenant string) ([]*Model, error) {
	keys, err := kv.Keys(ctx, r.kv, tenant+".*")
	if err != nil {
		return nil, fmt.Errorf("list models of %s: %w", tenant, err)
	}
	var out []*Model
	for _, k := range keys {
		m, err := r.get(ctx, tenant, k[len(tenant)+1:])
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (r *Registry) remember(m *Model, rev uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key(m.Tenant, m.Name)
	if c, ok := r.cache[k]; ok && c.rev >= rev {
		return // the watch is behind this registry's own write
	}
	r.cache[k] = cachedModel{m: m, rev: rev}
}

// Watch keeps the cache current until ctx ends and calls onChange (if not
// nil) with every model written, so that the scorer can re-warm an alias
// that moved.
func (r *Registry) Watch(ctx context.Context, onChange func(*Model)) error {
	// The watch replays current values first; the cache is trusted once
	// that replay ended.
	setWatching := func(on bool) func() {
		return func() {
			r.mu.Lock()
			r.watching = on
			r.mu.Unlock()
		}
	}
	return kvwatch.Follow(ctx, r.kv, kvwatch.Replay, kvwatch.Handlers{
		Put: func(e jetstream.KeyValueEntry) {
			var m Model
			if json.Unmarshal(e.Value(), &m) != nil {
				return
			}
			r.remember(&m, e.Revision())
			if onChange != nil {
				onChange(&m)
			}
		},
		Delete: func(e jetstream.KeyValueEntry) { // a deleted tenant's models
			r.mu.Lock()
			delete(r.cache, e.Key())
			r.mu.Unlock()
		},
		Replayed: setWatching(true),
		Stopped:  setWatching(false),
	})
}

// ErrInUse is returned when deleting a version an alias points to.
var ErrInUse = errors.New("models: version is in use by an alias")

// DeleteVersion removes a version that no alias points to. Its file is
// kept if another version has the same digest.
func (r *Registry) DeleteVersion(ctx context.Context, tenant, name string, number int) (*Model, error) {
	var removed Version
	m, err := r.update(ctx, tenant, name, false, func(m *Model) error {
		i := slices.IndexFunc(m.Versions, func(v Version) bool { return v.Number == number })
		if i < 0 {
			return fmt.Errorf("%w: model %s has no version %d", ErrNotFound, name, number)
		}
		for alias, a := range m.Aliases {
			if a.Version == number || a.Weights[strconv.Itoa(number)] > 0 {
				return fmt.Errorf("%w: alias %q points to version %d; move it first", ErrInUse, alias, number)
			}
		}
		removed = m.Versions[i]
		m.Versions = slices.Delete(m.Versions, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if removed.Key != "" && !slices.ContainsFunc(m.Versions, func(v Version) bool { return v.Digest == removed.Digest }) {
		if err := r.store.Delete(ctx, removed.Key); err != nil {
			return m, err
		}
	}
	return m, nil
}

// All returns every tenant's models (for the scorer's warm-up).
func (r *Registry) All(ctx context.Context) ([]*Model, error) {
	keys, err := kv.Keys(ctx, r.kv)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	var out []*Model
	for _, k := range keys {
		tenant, name, _ := strings.Cut(k, ".")
		m, err := r.get(ctx, tenant, name)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// AliasTargets lists the versions the model's aliases point to (all the
// weighted ones of an A/B alias), each once.
func (m *Model) AliasTargets() []Version {
	seen := map[int]bool{}
	var out []Version
	add := func(n int) {
		if v, ok := m.Version(n); ok && !seen[n] {
			seen[n] = true
			out = append(out, v)
		}
	}
	for _, a := range m.Aliases {
		if len(a.Weights) == 0 {
			add(a.Version)
		}
		for k, w := range a.Weights {
			if n, err := strconv.Atoi(k); err == nil && w > 0 {
				add(n)
			}
		}
	}
	return out
}
