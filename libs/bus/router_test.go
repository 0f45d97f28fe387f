package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/bus"
	"github.com/partita/partita/libs/contracts"
)

// lockedBuffer is a log destination written by the router's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "%s", l)
		out = append(out, m)
	}
	return out
}

// A handler's error is a retry: the message comes back, and the log says
// so at warn with what the message is of; a panic is logged at error, with
// the same fields; the router logs no error of its own.
func TestRouterLogsNacksWithTheMessagesWork(t *testing.T) {
	var logs lockedBuffer
	log := zerolog.New(&logs)
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	r, err := bus.NewRouter(log)
	require.NoError(t, err)
	calls := 0
	done := make(chan struct{})
	r.AddConsumerHandler("score", "work", pubsub, func(*message.Message) error {
		calls++
		switch calls {
		case 1:
			return errors.New("store unavailable")
		case 2:
			panic("a bug")
		}
		close(done)
		return nil
	})
	stopped := make(chan error, 1)
	go func() { stopped <- r.Run(context.Background()) }()
	<-r.Running()
	t.Cleanup(func() {
		require.NoError(t, r.Close())
		require.NoError(t, <-stopped)
	})

	msg := message.NewMessage("m1", nil)
	msg.Metadata.Set(contracts.HeaderTenant, "acme")
	msg.Metadata.Set(contracts.HeaderJob, "j1")
	msg.Metadata.Set(contracts.HeaderPart, "7")
	require.NoError(t, pubsub.Publish("work", msg))
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("the message was not redelivered until handled")
	}

	var levels []string
	for _, l := range logs.lines(t) {
		if l["level"] != "warn" && l["level"] != "error" {
			continue
		}
		levels = append(levels, l["level"].(string))
		for field, want := range map[string]string{"stage": "score", "tenant": "acme", "job": "j1", "part": "7"} {
			assert.Equal(t, want, l[field], "%s of %v", field, l)
		}
	}
	assert.Equal(t, []string{"warn", "error"}, levels, "the retry at warn, the panic at error, nothing else")
}
