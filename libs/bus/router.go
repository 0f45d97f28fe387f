package bus

import (
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// NewRouter returns a Watermill router logging through log, with panics
// recovered into nacks.
func NewRouter(log zerolog.Logger) (*message.Router, error) {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, LoggerAdapter(log))
	if err != nil {
		return nil, err
	}
	r.AddMiddleware(middleware.Recoverer)
	return r, nil
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
