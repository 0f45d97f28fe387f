package bus

import (
	"context"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/contracts"
)

// NewRouter returns a Watermill router logging through log, with panics
// recovered into nacks and every nack logged with what its message is of
// (settle).
func NewRouter(log zerolog.Logger) (*message.Router, error) {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, LoggerAdapter(log))
	if err != nil {
		return nil, err
	}
	r.AddMiddleware(settle(log), middleware.Recoverer)
	return r, nil
}

// StopRouter closes a stage service's router (nil: none was made). One
// that never ran, because a service started after it failed to, is let go
// at once: Watermill's Close would wait out the CloseTimeout, 30 s, for
// its handler, counted when added but never started.
func StopRouter(r *message.Router) error {
	if r == nil || !r.IsRunning() {
		return nil
	}
	return r.Close()
}

// settle nacks the message of a handler that returned an error — it is
// redelivered with the consumer's backoff — and logs it with the message's
// stage, tenant, job and part: at warn, a retry being an expected outcome,
// or at error for a recovered panic. The router sees no error: it would log
// every one at error level, without those fields.
func settle(log zerolog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err == nil {
				return out, nil
			}
			l := MessageLog(log, contracts.Stage(message.HandlerNameFromCtx(msg.Context())), msg) // handlers are named after their stage
			var panicked middleware.RecoveredPanicError
			switch {
			case errors.As(err, &panicked):
				l.Error().Ctx(msg.Context()).Err(err).Msg("handler panicked; the message will be redelivered")
			case errors.Is(err, context.Canceled):
				l.Debug().Ctx(msg.Context()).Err(err).Msg("handler canceled; the message will be redelivered")
			default:
				l.Warn().Ctx(msg.Context()).Err(err).Msg("handler failed; the message will be redelivered")
			}
			msg.Nack() // the router's Ack that follows is then a no-op
			return nil, nil
		}
	}
}

// LoggerAdapter adapts zerolog to Watermill. Watermill's info messages are
// logged at debug level: they are per-handler lifecycle chatter.
func LoggerAdapter(log zerolog.Logger) watermill.LoggerAdapter { return wmLogger{log: log} }

type wmLogger struct{ log zerolog.Logger }

func (l wmLogger) Error(msg string, err error, fields watermill.LogFields) {
	l.log.Error().Err(err).Fields(map[string]any(fields)).Msg(msg)
}
func (l wmLogger) Info(msg string, fields watermill.LogFields) {
	l.log.Debug().Fields(map[string]any(fields)).Msg(msg)
}
func (l wmLogger) Debug(msg string, fields watermill.LogFields) {
	l.log.Trace().Fields(map[string]any(fields)).Msg(msg)
}
func (l wmLogger) Trace(msg string, fields watermill.LogFields) {}
func (l wmLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return wmLogger{log: l.log.With().Fields(map[string]any(fields)).Logger()}
}

// Routers makes the router of a stage service: what a service declares it
// needs of the bus to consume its stream (Consumers is the JetStream one,
// tests may give another).
type Routers interface {
	Router(topic string, opts ConsumerOptions, h message.NoPublishHandlerFunc, mw ...message.HandlerMiddleware) (*message.Router, error)
}

// Consumers makes the routers of stage services on one JetStream.
type Consumers struct {
	JS  jetstream.JetStream
	Log zerolog.Logger
}

// Router is the router of a stage service: one handler consuming the
// durable consumer opts under the topic, with the given middleware.
func (c Consumers) Router(topic string, opts ConsumerOptions, h message.NoPublishHandlerFunc, mw ...message.HandlerMiddleware) (*message.Router, error) {
	return ConsumerRouter(c.JS, c.Log, topic, opts, h, mw...)
}

// ConsumerRouter is the router of a stage service: one handler consuming
// the durable consumer opts under the topic, with the given middleware.
func ConsumerRouter(js jetstream.JetStream, log zerolog.Logger, topic string, opts ConsumerOptions, h message.NoPublishHandlerFunc, mw ...message.HandlerMiddleware) (*message.Router, error) {
	sub, err := NewSubscriber(js, log, map[string]ConsumerOptions{topic: opts})
	if err != nil {
		return nil, err
	}
	r, err := NewRouter(log)
	if err != nil {
		return nil, err
	}
	r.AddConsumerHandler(topic, topic, sub, h).AddMiddleware(mw...)
	return r, nil
}
