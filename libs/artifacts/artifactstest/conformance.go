// Package artifactstest is the conformance suite every artifacts.Store
// backend must pass. Each backend's tests call RunConformance with a
// constructor of empty stores.
package artifactstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/artifacts"
)

// RunConformance runs the suite as subtests. newStore must return an empty
// store; it is called once per subtest, and the store is closed when the
// subtest ends.
func RunConformance(t *testing.T, newStore func(t *testing.T) artifacts.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s artifacts.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"UnusualKeys", testUnusualKeys},
		{"BinaryContent", testBinaryContent},
		{"EmptyObject", testEmptyObject},
		{"LargeStreaming", testLargeStreaming},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"List", testList},
		{"ListStopsEarly", testListStopsEarly},
		{"Delete", testDelete},
		{"DeletePrefix", testDeletePrefix},
		{"FailedPutLeavesNothing", testFailedPut},
		{"ContextCancelled", testContextCancelled},
		{"ConcurrentPuts", testConcurrentPuts},
		{"PresignGet", testPresignGet},
		{"InvalidKeys", testInvalidKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { assert.NoError(t, s.Close()) })
			tc.run(t, s)
		})
	}
}

var errBoom = errors.New("reader failed")

func testRoundTrip(t *testing.T, s artifacts.Store) {
	ctx := t.Context()
	start := time.Now()
	data := []byte("tenant,job,rows\ndev,01J,3\n")
	put, err := s.Put(ctx, "dev/jobs/01J/input", bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	assert.Equal(t, "dev/jobs/01J/input", put.Key)
	assert.Equal(t, int64(len(data)), put.Size)
	assert.NotEmpty(t, put.ETag)
	assertRecent(t, start, put.ModTime)

	body, info := get(t, s, "dev/jobs/01J/input")
	assert.Equal(t, data, body)
	assert.Equal(t, put.Key, info.Key)
	assert.Equal(t, put.Size, info.Size)
	assert.Equal(t, put.ETag, info.ETag)
	assertRecent(t, start, info.ModTime)

	st, err := s.Stat(ctx, "dev/jobs/01J/input")
	require.NoError(t, err)
	assert.Equal(t, info, st)
}

func testUnusualKeys(t *testing.T, s artifacts.Store) {
	for _, key := range []string{
		"dev/a b/c d",
		"dev/ünïcødé/ключ/鍵",
		"dev/..dots/.hidden/x.",
		"dev/sym+bols=&;,$@!'()*~/%20",
		"t",
	} {
		put(t, s, key, []byte(key))
		body, _ := get(t, s, key)
		assert.Equal(t, key, string(body))
	}
	assert.Len(t, list(t, s, "dev/"), 4)
}

func testBinaryContent(t *testing.T, s artifacts.Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	random := make([]byte, 3<<20+17) // crosses every buffer boundary
	rand.NewChaCha8([32]byte{1}).Read(random)

	for name, data := range map[string][]byte{"all-bytes": all, "random": random} {
		for _, size := range []int64{int64(len(data)), -1} {
			key := fmt.Sprintf("dev/bin/%s/%d", name, size)
			info, err := s.Put(t.Context(), key, bytes.NewReader(data), size)
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), info.Size)
			body, info := get(t, s, key)
			assert.True(t, bytes.Equal(data, body), "%s: content differs", key)
			assert.Equal(t, int64(len(data)), info.Size)
		}
	}
}

func testEmptyObject(t *testing.T, s artifacts.Store) {
	for _, size := range []int64{0, -1} {
		key := fmt.Sprintf("dev/empty/%d", size)
		info, err := s.Put(t.Context(), key, strings.NewReader(""), size)
		require.NoError(t, err)
		assert.Zero(t, info.Size)
		body, info := get(t, s, key)
		assert.Empty(t, body)
		assert.Zero(t, info.Size)
		st, err := s.Stat(t.Context(), key)
		require.NoError(t, err)
		assert.Zero(t, st.Size)
	}
	assert.Equal(t, []string{"dev/empty/-1", "dev/empty/0"}, list(t, s, "dev/empty/"))
}

// testLargeStreaming streams 40 MiB in and out, of unknown and of known
// size, checking it by hash, and checks that Put allocated less than the
// object's size.
func testLargeStreaming(t *testing.T, s artifacts.Store) {
	const size = 40 << 20
	for _, putSize := range []int64{-1, size} {
		key := fmt.Sprintf("dev/large/%d", putSize)
		src := newGenerator(7, size)

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		info, err := s.Put(t.Context(), key, src, putSize)
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		assert.Equal(t, int64(size), info.Size)
		allocated := after.TotalAlloc - before.TotalAlloc
		assert.Less(t, allocated, uint64(size), "Put allocated %d MiB for a %d MiB object", allocated>>20, size>>20)
		t.Logf("Put of %d MiB (size %d) allocated %.1f MiB", size>>20, putSize, float64(allocated)/(1<<20))

		r, info, err := s.Get(t.Context(), key)
		require.NoError(t, err)
		assert.Equal(t, int64(size), info.Size)
		h := sha256.New()
		n, err := io.Copy(h, r)
		require.NoError(t, err)
		require.NoError(t, r.Close())
		assert.Equal(t, int64(size), n)
		assert.Equal(t, src.sum(), h.Sum(nil), "content differs")
	}
}

func testOverwrite(t *testing.T, s artifacts.Store) {
	first := put(t, s, "dev/jobs/01J/result", []byte("first version"))
	second := put(t, s, "dev/jobs/01J/result", []byte("second, longer version"))
	assert.NotEqual(t, first.ETag, second.ETag)
	third := put(t, s, "dev/jobs/01J/result", []byte("third, longer version!")) // same size
	assert.NotEqual(t, second.ETag, third.ETag)

	body, info := get(t, s, "dev/jobs/01J/result")
	assert.Equal(t, "third, longer version!", string(body))
	assert.Equal(t, third.ETag, info.ETag)
	assert.Equal(t, []string{"dev/jobs/01J/result"}, list(t, s, "dev/"))
}

func testNotFound(t *testing.T, s artifacts.Store) {
	ctx := t.Context()
	put(t, s, "dev/jobs/01J/input", []byte("x"))
	for _, key := range []string{"dev/missing", "dev/jobs/01J/inpu", "dev/jobs/01J", "dev/jobs/01J/input/more"} {
		_, err := s.Stat(ctx, key)
		assert.ErrorIs(t, err, artifacts.ErrNotFound, "stat %s", key)
		if err != nil {
			assert.Contains(t, err.Error(), key, "the error names the key")
		}
		r, _, err := s.Get(ctx, key)
		assert.ErrorIs(t, err, artifacts.ErrNotFound, "get %s", key)
		assert.Nil(t, r)
		assert.NoError(t, s.Delete(ctx, key), "delete %s", key)
	}
	assert.Empty(t, list(t, s, "nobody/"))
	assert.NoError(t, s.DeletePrefix(ctx, "nobody/"))
}

func testList(t *testing.T, s artifacts.Store) {
	// Folder-style names sort differently from key order ('-' and '.' come
	// before '/'): the listing must follow the keys.
	keys := []string{"p/a-b", "p/a.x", "p/a/c", "p/a/d/e", "p/ab", "p/b/x/y", "q/z", "p0"}
	for _, k := range slices.Backward(keys) {
		put(t, s, k, []byte(k))
	}
	sorted := slices.Sorted(slices.Values(keys))
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"p", []string{"p/a-b", "p/a.x", "p/a/c", "p/a/d/e", "p/ab", "p/b/x/y", "p0"}},
		{"p/", []string{"p/a-b", "p/a.x", "p/a/c", "p/a/d/e", "p/ab", "p/b/x/y"}},
		{"p/a", []string{"p/a-b", "p/a.x", "p/a/c", "p/a/d/e", "p/ab"}},
		{"p/a/", []string{"p/a/c", "p/a/d/e"}},
		{"p/a/d", []string{"p/a/d/e"}},
		{"p/a/c", []string{"p/a/c"}},
		{"p/b/x/", []string{"p/b/x/y"}},
		{"p/c", nil},
		{"nope/", nil},
	} {
		assert.Equal(t, tc.want, list(t, s, tc.prefix), "prefix %q", tc.prefix)
	}

	for info, err := range s.List(t.Context(), "p/a/") {
		require.NoError(t, err)
		st, err := s.Stat(t.Context(), info.Key)
		require.NoError(t, err)
		assert.Equal(t, int64(len(info.Key)), info.Size)
		assert.Equal(t, st.ETag, info.ETag)
		assert.Equal(t, st.Size, info.Size)
		assert.False(t, info.ModTime.IsZero())
	}
}

func testListStopsEarly(t *testing.T, s artifacts.Store) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("dev/k%d", i), nil)
	}
	var got []string
	for info, err := range s.List(t.Context(), "dev/") {
		require.NoError(t, err)
		got = append(got, info.Key)
		if len(got) == 2 {
			break
		}
	}
	assert.Equal(t, []string{"dev/k0", "dev/k1"}, got)
}

func testDelete(t *testing.T, s artifacts.Store) {
	ctx := t.Context()
	put(t, s, "dev/jobs/1/a", []byte("a"))
	put(t, s, "dev/jobs/1/b", []byte("b"))
	require.NoError(t, s.Delete(ctx, "dev/jobs/1/a"))
	_, err := s.Stat(ctx, "dev/jobs/1/a")
	assert.ErrorIs(t, err, artifacts.ErrNotFound)
	assert.Equal(t, []string{"dev/jobs/1/b"}, list(t, s, ""))
	require.NoError(t, s.Delete(ctx, "dev/jobs/1/a"), "deleting twice")
	require.NoError(t, s.Delete(ctx, "dev/jobs/1"), "a prefix of objects is not an object")
	assert.Equal(t, []string{"dev/jobs/1/b"}, list(t, s, ""))

	require.NoError(t, s.Delete(ctx, "dev/jobs/1/b"))
	assert.Empty(t, list(t, s, ""))
	put(t, s, "dev/jobs/1/b", []byte("again")) // the emptied folder comes back
	body, _ := get(t, s, "dev/jobs/1/b")
	assert.Equal(t, "again", string(body))
}

func testDeletePrefix(t *testing.T, s artifacts.Store) {
	ctx := t.Context()
	for _, k := range []string{"d/1/a", "d/1/b/c", "d/10", "d/2/x", "d1", "e/1"} {
		put(t, s, k, []byte(k))
	}
	require.NoError(t, s.DeletePrefix(ctx, "d/1/"))
	assert.Equal(t, []string{"d/10", "d/2/x", "d1", "e/1"}, list(t, s, ""))
	require.NoError(t, s.DeletePrefix(ctx, "d/1"), "a partial name matches like List")
	assert.Equal(t, []string{"d/2/x", "d1", "e/1"}, list(t, s, ""))
	require.NoError(t, s.DeletePrefix(ctx, "d"))
	assert.Equal(t, []string{"e/1"}, list(t, s, ""))
	require.NoError(t, s.DeletePrefix(ctx, "nothing/here/"))

	var many []string
	for i := range 1100 { // more than one S3 multi-delete batch
		many = append(many, fmt.Sprintf("m/%04d", i))
	}
	putAll(t, s, many)
	require.NoError(t, s.DeletePrefix(ctx, "m/"))
	assert.Equal(t, []string{"e/1"}, list(t, s, ""))

	err := s.DeletePrefix(ctx, "")
	assert.ErrorIs(t, err, artifacts.ErrInvalidKey, "an empty prefix is refused")
	assert.Equal(t, []string{"e/1"}, list(t, s, ""))
}

func testFailedPut(t *testing.T, s artifacts.Store) {
	ctx := t.Context()
	put(t, s, "dev/kept", []byte("old version"))
	for _, tc := range []struct {
		name     string
		failAt   int64
		size     int64
		wantBoom bool
	}{
		{"known size, fails halfway", 1 << 20, 2 << 20, true},
		{"unknown size, small, fails", 100 << 10, -1, true},
		{"unknown size, fails in first part", 3 << 20, -1, true},
		{"unknown size, fails after a part", 17 << 20, -1, true},
		{"known size, reader too short", 1 << 20, 2 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, key := range []string{"dev/new", "dev/kept"} {
				var r io.Reader = &failingReader{r: newGenerator(1, tc.failAt), err: errBoom}
				if !tc.wantBoom {
					r = newGenerator(1, tc.failAt)
				}
				_, err := s.Put(ctx, key, r, tc.size)
				require.Error(t, err)
				if tc.wantBoom {
					assert.ErrorIs(t, err, errBoom)
				}
				assert.Contains(t, err.Error(), key)
			}
			_, err := s.Stat(ctx, "dev/new")
			assert.ErrorIs(t, err, artifacts.ErrNotFound)
			body, _ := get(t, s, "dev/kept")
			assert.Equal(t, "old version", string(body), "a failed overwrite keeps the old object")
			assert.Equal(t, []string{"dev/kept"}, list(t, s, ""))
		})
	}
}

func testContextCancelled(t *testing.T, s artifacts.Store) {
	put(t, s, "dev/existing", []byte("x"))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Put(ctx, "dev/new", strings.NewReader("x"), 1)
	assert.ErrorIs(t, err, context.Canceled, "put")
	_, err = s.Stat(ctx, "dev/existing")
	assert.ErrorIs(t, err, context.Canceled, "stat")
	_, _, err = s.Get(ctx, "dev/existing")
	assert.ErrorIs(t, err, context.Canceled, "get")
	assert.ErrorIs(t, listErr(ctx, s, "dev/"), context.Canceled, "list")
	assert.ErrorIs(t, s.Delete(ctx, "dev/existing"), context.Canceled, "delete")
	assert.ErrorIs(t, s.DeletePrefix(ctx, "dev/"), context.Canceled, "delete-prefix")

	// Cancelled while streaming: the reader never ends, Put must.
	for _, size := range []int64{-1, 8 << 20} {
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancellingReader{r: newGenerator(3, 1<<40), after: 2 << 20, cancel: cancel}
		_, err = s.Put(ctx, "dev/new", r, size)
		assert.Error(t, err, "size %d", size)
		if size < 0 {
			assert.ErrorIs(t, err, context.Canceled)
		}
	}
	_, err = s.Stat(t.Context(), "dev/new")
	assert.ErrorIs(t, err, artifacts.ErrNotFound)
	assert.Equal(t, []string{"dev/existing"}, list(t, s, ""))
}

func testConcurrentPuts(t *testing.T, s artifacts.Store) {
	const workers, each = 16, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	var want []string
	for w := range workers {
		for i := range each {
			// Half the keys share one new folder, half get their own.
			key := fmt.Sprintf("dev/shared/w%02d-%d", w, i)
			if i%2 == 1 {
				key = fmt.Sprintf("dev/own/w%02d/%d", w, i)
			}
			want = append(want, key)
		}
		keys := want[len(want)-each:]
		wg.Go(func() {
			for _, key := range keys {
				data := bytes.Repeat([]byte(key), 1+w*500)
				if _, err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	slices.Sort(want)
	assert.Equal(t, want, list(t, s, "dev/"))
	for _, key := range want {
		body, _ := get(t, s, key)
		assert.True(t, bytes.HasPrefix(body, []byte(key)) && len(body)%len(key) == 0, "%s: content differs", key)
	}
}

// testPresignGet accepts either answer; each backend's own tests pin which.
func testPresignGet(t *testing.T, s artifacts.Store) {
	data := make([]byte, 100<<10)
	rand.NewChaCha8([32]byte{2}).Read(data)
	put(t, s, "dev/jobs/01J/result", data)

	u, err := s.PresignGet(t.Context(), "dev/jobs/01J/result", time.Minute)
	if errors.Is(err, artifacts.ErrPresignUnsupported) {
		t.Log("backend does not presign")
		return
	}
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.True(t, bytes.Equal(data, body), "presigned content differs")
}

func testInvalidKeys(t *testing.T, s artifacts.Store) {
	ctx := t.Context()
	badKeys := []string{
		"", "/dev/abs", "dev//double", "dev/trailing/", "..", "dev/../escape", "dev/./dot",
		"dev/nul\x00", `dev\back`, "dev/\xff", strings.Repeat("k", 1025), "dev/" + strings.Repeat("s", 256),
		"dev/.artifacts-tmp-123",
	}
	for _, key := range badKeys {
		r := &countingReader{r: strings.NewReader("x")}
		_, err := s.Put(ctx, key, r, 1)
		assert.ErrorIs(t, err, artifacts.ErrInvalidKey, "put %q", key)
		assert.Zero(t, r.n, "put %q read the body", key)
		_, _, err = s.Get(ctx, key)
		assert.ErrorIs(t, err, artifacts.ErrInvalidKey, "get %q", key)
		_, err = s.Stat(ctx, key)
		assert.ErrorIs(t, err, artifacts.ErrInvalidKey, "stat %q", key)
		assert.ErrorIs(t, s.Delete(ctx, key), artifacts.ErrInvalidKey, "delete %q", key)
		_, err = s.PresignGet(ctx, key, time.Minute)
		assert.ErrorIs(t, err, artifacts.ErrInvalidKey, "presign %q", key)
	}
	for _, prefix := range []string{"/dev", "dev//x", "../x", "dev/../x", "a\x00"} {
		assert.ErrorIs(t, listErr(ctx, s, prefix), artifacts.ErrInvalidKey, "list %q", prefix)
		assert.ErrorIs(t, s.DeletePrefix(ctx, prefix), artifacts.ErrInvalidKey, "delete-prefix %q", prefix)
	}
	assert.Empty(t, list(t, s, ""))
}

func put(t *testing.T, s artifacts.Store, key string, data []byte) artifacts.ObjectInfo {
	t.Helper()
	info, err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	return info
}

// putAll puts empty objects under keys, eight at a time.
func putAll(t *testing.T, s artifacts.Store, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, key := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := s.Put(t.Context(), key, strings.NewReader(""), 0)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
}

func get(t *testing.T, s artifacts.Store, key string) ([]byte, artifacts.ObjectInfo) {
	t.Helper()
	r, info, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	defer r.Close()
	body, err := io.ReadAll(r)
	require.NoError(t, err)
	return body, info
}

func list(t *testing.T, s artifacts.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range s.List(t.Context(), prefix) {
		require.NoError(t, err)
		keys = append(keys, info.Key)
	}
	return keys
}

// listErr drains a listing and returns its error.
func listErr(ctx context.Context, s artifacts.Store, prefix string) error {
	for _, err := range s.List(ctx, prefix) {
		if err != nil {
			return err
		}
	}
	return nil
}

func assertRecent(t *testing.T, start, mod time.Time) {
	t.Helper()
	assert.WithinRange(t, mod, start.Add(-time.Minute), time.Now().Add(time.Minute))
}

// generator is a deterministic reader of n pseudo-random bytes that hashes
// what it hands out, so large objects are checked without being held.
type generator struct {
	rng  *rand.ChaCha8
	left int64
	hash interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func newGenerator(seed byte, n int64) *generator {
	return &generator{rng: rand.NewChaCha8([32]byte{seed}), left: n, hash: sha256.New()}
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, _ := g.rng.Read(p)
	g.hash.Write(p[:n])
	g.left -= int64(n)
	return n, nil
}

func (g *generator) sum() []byte { return g.hash.Sum(nil) }

// failingReader returns r's bytes, then err instead of io.EOF.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		err = f.err
	}
	return n, err
}

// cancellingReader calls cancel once it has handed out after bytes, and goes on.
type cancellingReader struct {
	r      io.Reader
	after  int64
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.after -= int64(n); c.after <= 0 {
		c.cancel()
	}
	return n, err
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
