package models_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
	"github.com/partita/partita/libs/kv"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/natsembed/natstest"
)

const wait = 10 * time.Second

type registryEnv struct {
	js    jetstream.JetStream
	store artifacts.Store
	reg   *models.Registry
}

func openRegistry(t *testing.T) *registryEnv {
	t.Helper()
	_, _, js := natstest.Start(t)
	store, err := artifacts.NewLocal(t.TempDir())
	require.NoError(t, err)
	reg, err := models.Open(t.Context(), js, store, kv.Options{})
	require.NoError(t, err)
	return &registryEnv{js: js, store: store, reg: reg}
}

func logistic(width int) models.Version {
	return models.Version{Kind: models.KindLogistic, Width: width}
}

func TestRegistryPush(t *testing.T) {
	e := openRegistry(t)
	ctx := t.Context()
	files := [][]byte{[]byte("model one"), []byte("model two"), []byte("model three")}
	for i, f := range files {
		v, err := e.reg.Push(ctx, "acme", "risk", f, logistic(i+1))
		require.NoError(t, err)
		assert.Equal(t, i+1, v.Number, "versions are numbered 1, 2, 3")
		sum := sha256.Sum256(f)
		assert.Equal(t, hex.EncodeToString(sum[:]), v.Digest)
		assert.Equal(t, int64(len(f)), v.Size)
		assert.Equal(t, "acme/models/risk/blobs/"+v.Digest, v.Key)
		assert.Equal(t, i+1, v.Width)
		assert.WithinDuration(t, time.Now(), v.CreatedAt, time.Minute)
	}
	// Another model and another tenant number their own versions.
	v, err := e.reg.Push(ctx, "acme", "other", []byte("x"), logistic(1))
	require.NoError(t, err)
	assert.Equal(t, 1, v.Number)
	v, err = e.reg.Push(ctx, "beta", "risk", []byte("x"), logistic(1))
	require.NoError(t, err)
	assert.Equal(t, 1, v.Number)

	m, err := e.reg.Get(ctx, "acme", "risk")
	require.NoError(t, err)
	assert.Equal(t, "acme", m.Tenant)
	require.Len(t, m.Versions, 3)
	for i, v := range m.Versions {
		b, err := e.reg.File(ctx, v)
		require.NoError(t, err)
		assert.Equal(t, files[i], b)
	}
	latest, err := m.Resolve("latest", "j", "p")
	require.NoError(t, err)
	assert.Equal(t, 3, latest.Number)

	_, err = e.reg.Get(ctx, "acme", "missing")
	require.ErrorIs(t, err, models.ErrNotFound)
	_, err = e.reg.Get(ctx, "gamma", "risk")
	require.ErrorIs(t, err, models.ErrNotFound, "models are per tenant")
	_, err = e.reg.Get(ctx, "acme", "bad name")
	require.ErrorIs(t, err, models.ErrNotFound)
}

func TestRegistryFileTampered(t *testing.T) {
	e := openRegistry(t)
	ctx := t.Context()
	v, err := e.reg.Push(ctx, "acme", "risk", []byte("the real model"), logistic(1))
	require.NoError(t, err)

	forged := []byte("a forged model")
	_, err = e.store.Put(ctx, v.Key, bytes.NewReader(forged), int64(len(forged)))
	require.NoError(t, err)
	_, err = e.reg.File(ctx, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sha256 mismatch")

	require.NoError(t, e.store.Delete(ctx, v.Key))
	_, err = e.reg.File(ctx, v)
	require.ErrorIs(t, err, artifacts.ErrNotFound)
}

func TestRegistrySetAlias(t *testing.T) {
	e := openRegistry(t)
	ctx := t.Context()
	for range 2 {
		_, err := e.reg.Push(ctx, "acme", "risk", []byte("m"), logistic(1))
		require.NoError(t, err)
	}

	m, err := e.reg.SetAlias(ctx, "acme", "risk", "prod", models.Alias{Version: 1})
	require.NoError(t, err)
	assert.Equal(t, models.Alias{Version: 1}, m.Aliases["prod"])

	_, err = e.reg.SetAlias(ctx, "acme", "risk", "prod", models.Alias{Version: 3})
	require.ErrorIs(t, err, models.ErrNotFound)
	_, err = e.reg.SetAlias(ctx, "acme", "risk", "ab", models.Alias{Weights: map[string]int{"1": 50, "7": 50}})
	require.ErrorIs(t, err, models.ErrNotFound)
	_, err = e.reg.SetAlias(ctx, "acme", "risk", "ab", models.Alias{Weights: map[string]int{"one": 50}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a version number")
	_, err = e.reg.SetAlias(ctx, "acme", "missing", "prod", models.Alias{Version: 1})
	require.ErrorIs(t, err, models.ErrNotFound, "no alias creates a model")

	_, err = e.reg.SetAlias(ctx, "acme", "risk", "ab", models.Alias{Weights: map[string]int{"1": 50, "2": 50}})
	require.NoError(t, err)
	m, err = e.reg.Get(ctx, "acme", "risk")
	require.NoError(t, err)
	assert.Equal(t, models.Alias{Version: 1}, m.Aliases["prod"], "a refused alias change leaves it as it was")
	assert.Len(t, m.Aliases, 2)
	v, err := m.Resolve("prod", "j", "p")
	require.NoError(t, err)
	assert.Equal(t, 1, v.Number)

	// A version an alias points at cannot be deleted; another can.
	_, err = e.reg.DeleteVersion(ctx, "acme", "risk", 1)
	require.ErrorIs(t, err, models.ErrInUse)
	_, err = e.reg.SetAlias(ctx, "acme", "risk", "ab", models.Alias{Version: 1})
	require.NoError(t, err)
	m, err = e.reg.DeleteVersion(ctx, "acme", "risk", 2)
	require.NoError(t, err)
	require.Len(t, m.Versions, 1)
	_, err = e.reg.DeleteVersion(ctx, "acme", "risk", 2)
	require.ErrorIs(t, err, models.ErrNotFound)
	// Both versions had the same file: it stays for version 1.
	b, err := e.reg.File(ctx, m.Versions[0])
	require.NoError(t, err)
	assert.Equal(t, []byte("m"), b)
}

func TestRegistryList(t *testing.T) {
	e := openRegistry(t)
	ctx := t.Context()
	list, err := e.reg.List(ctx, "acme")
	require.NoError(t, err)
	assert.Empty(t, list)

	for _, m := range []struct{ tenant, name string }{{"acme", "risk"}, {"acme", "churn"}, {"acme2", "risk"}, {"beta", "risk"}} {
		_, err := e.reg.Push(ctx, m.tenant, m.name, []byte(m.tenant+m.name), logistic(1))
		require.NoError(t, err)
	}
	list, err = e.reg.List(ctx, "acme")
	require.NoError(t, err)
	var names []string
	for _, m := range list {
		assert.Equal(t, "acme", m.Tenant)
		names = append(names, m.Name)
	}
	slices.Sort(names)
	assert.Equal(t, []string{"churn", "risk"}, names)

	all, err := e.reg.All(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 4)
}

func TestRegistryWatch(t *testing.T) {
	e := openRegistry(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := e.reg.Push(ctx, "acme", "risk", []byte("v1"), logistic(1))
	require.NoError(t, err)

	changes := make(chan *models.Model, 16)
	require.NoError(t, e.reg.Watch(ctx, func(m *models.Model) { changes <- m }))
	select {
	case m := <-changes:
		assert.Len(t, m.Versions, 1, "the watch replays current models first")
	case <-time.After(wait):
		t.Fatal("no replay")
	}

	// Another replica moves an alias: this registry's cache follows.
	other, err := models.Open(ctx, e.js, e.store, kv.Options{})
	require.NoError(t, err)
	_, err = other.Push(ctx, "acme", "risk", []byte("v2"), logistic(1))
	require.NoError(t, err)
	_, err = other.SetAlias(ctx, "acme", "risk", "prod", models.Alias{Version: 2})
	require.NoError(t, err)

	natstest.Eventually(t, wait, func() bool {
		m, err := e.reg.Get(ctx, "acme", "risk")
		return err == nil && m.Aliases["prod"].Version == 2 && len(m.Versions) == 2
	}, "cache sees the alias move")
	var last *models.Model
	natstest.Eventually(t, wait, func() bool {
		select {
		case last = <-changes:
		default:
		}
		return last != nil && last.Aliases["prod"].Version == 2
	}, "onChange sees the alias move")
}
