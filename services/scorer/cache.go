package scorer

import (
	"container/list"
	"context"
	"sync"

	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer/runtime"
)

// modelCache keeps loaded models by file digest, loading each once even
// when many parts ask at the same time, and evicts the least recently used
// when their files add up to more than budget bytes.
type modelCache struct {
	budget int64

	mu      sync.Mutex
	used    int64
	entries map[string]*cached
	lru     *list.List // of digests, most recent first
}

type cached struct {
	done  chan struct{}
	model runtime.Model
	err   error
	size  int64
	elem  *list.Element
}

func newModelCache(budget int64) *modelCache {
	return &modelCache{budget: budget, entries: map[string]*cached{}, lru: list.New()}
}

// get returns the loaded model of v, calling load the first time.
func (c *modelCache) get(ctx context.Context, v models.Version, load func() (runtime.Model, error)) (runtime.Model, error) {
	c.mu.Lock()
	e, ok := c.entries[v.Digest]
	if ok {
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		c.mu.Unlock()
	} else {
		e = &cached{done: make(chan struct{}), size: v.Size}
		c.entries[v.Digest] = e
		c.mu.Unlock()
		e.model, e.err = load()
		close(e.done)
		c.settle(v.Digest, e)
	}
	select {
	case <-e.done:
		return e.model, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// settle records a finished load: a failure is forgotten so a later part
// retries; a success enters the LRU and may evict older models.
func (c *modelCache) settle(digest string, e *cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.err != nil {
		delete(c.entries, digest)
		return
	}
	e.elem = c.lru.PushFront(digest)
	c.used += e.size
	for c.used > c.budget && c.lru.Len() > 1 {
		oldest := c.lru.Back()
		d := oldest.Value.(string)
		old := c.entries[d]
		c.lru.Remove(oldest)
		delete(c.entries, d)
		c.used -= old.size
		_ = old.model.Close() // waits for predictions in flight (runtimes guarantee it)
	}
}

// loaded reports whether a digest is loaded (or loading).
func (c *modelCache) loaded(digest string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[digest]
	return ok
}

// close closes every loaded model.
func (c *modelCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for d, e := range c.entries {
		select {
		case <-e.done:
			if e.model != nil {
				_ = e.model.Close()
			}
		default:
		}
		delete(c.entries, d)
	}
	c.lru.Init()
	c.used = 0
}
