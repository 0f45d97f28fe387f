package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// paceBodies makes every request body keep arriving: its first bytes
// within grace, and then at minRate bytes per second on average (each
// byte received moves the read deadline 1/minRate s further, as Apache's
// mod_reqtimeout does). A client that dribbles its upload — a slow-loris —
// is cut off instead of holding a handler and a connection for as long as
// it likes, while a large upload at a sane rate is never bounded by a
// total. The deadline is the connection's: a read past it fails with a
// timeout, answered 408 (bodyProblem), and the connection is closed.
func paceBodies(next http.Handler, grace time.Duration, minRate int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			// On a copy of the request: the server reads its own's Body
			// after the handler to know whether the body was left unread
			// (then it closes the connection; else it would read the rest
			// as the next request).
			paced := r.WithContext(r.Context())
			paced.Body = &pacedBody{ReadCloser: r.Body, rc: http.NewResponseController(w), start: time.Now(), grace: grace, minRate: minRate}
			r = paced
		}
		next.ServeHTTP(w, r)
	})
}

// pacedBody is a request body under paceBodies' deadline.
type pacedBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	start    time.Time
	grace    time.Duration
	minRate  int64
	received int64
}

func (b *pacedBody) Read(p []byte) (int, error) {
	earned := time.Duration(float64(b.received) / float64(b.minRate) * float64(time.Second))
	if err := b.rc.SetReadDeadline(b.start.Add(b.grace + earned)); err != nil {
		return 0, fmt.Errorf("set the request body's read deadline: %w", err)
	}
	n, err := b.ReadCloser.Read(p)
	b.received += int64(n)
	if errors.Is(err, io.EOF) {
		// The whole body is in: the connection is read again only for the
		// next request (or to see the client leave during a long wait),
		// which the server's own timeouts bound.
		if derr := b.rc.SetReadDeadline(time.Time{}); derr != nil {
			return n, fmt.Errorf("clear the request body's read deadline: %w", derr)
		}
	}
	return n, err
}

// readTimedOut reports whether err is a request body read cut off by its
// deadline.
func readTimedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
