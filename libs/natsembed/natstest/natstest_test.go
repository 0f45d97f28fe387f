package natstest_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/natsembed/natstest"
)

func TestStart(t *testing.T) {
	srv, nc, js := natstest.Start(t)
	assert.Empty(t, srv.ClientURL(), "no TCP listener")
	assert.True(t, nc.IsConnected())
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "b"})
	require.NoError(t, err)
	_, err = kv.Put(t.Context(), "k", []byte("v"))
	require.NoError(t, err)
	e, err := kv.Get(t.Context(), "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(e.Value()))

	// Two servers in one test are independent.
	_, _, js2 := natstest.Start(t)
	_, err = js2.KeyValue(t.Context(), "b")
	require.ErrorIs(t, err, jetstream.ErrBucketNotFound)
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	natstest.Eventually(t, time.Second, func() bool { return n.Add(1) == 3 }, "third call")
	assert.Equal(t, int32(3), n.Load())

	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		natstest.Eventually(ft, 20*time.Millisecond, func() bool { return false }, "never %d", 42)
		ft.returned = true
	}()
	<-done
	assert.False(t, ft.returned, "Eventually must stop the test goroutine")
	assert.True(t, strings.Contains(ft.msg, "never 42"), ft.msg)
}

// fatalTB records Fatalf and stops the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg      string
	returned bool
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
