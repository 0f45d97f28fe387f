package bus

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/partita/partita/libs/contracts"
)

// ConsumerOptions is the durable pull consumer of one stage and how many
// messages a process works on at once.
type ConsumerOptions struct {
	Stage         contracts.Stage
	Durable       string          // shared by every replica of the service
	Filter        []string        // subjects; default: the stage's whole stream
	AckWait       time.Duration   // redelivery after a silent worker; InProgress extends it
	MaxDeliver    int             // attempts before the part is given up
	BackOff       []time.Duration // redelivery delays after a nak, by attempt
	MaxAckPending int             // in flight across all replicas
	Workers       int             // in flight in this process
	// Tenants, when set, gives every tenant its own durable consumer
	// (<Durable>-<tenant>) and serves tenants round-robin, so one
	// tenant's backlog does not hold up the others.
	Tenants TenantSource
	// TenantPrefetch bounds the messages pulled ahead per tenant.
	TenantPrefetch int
}

// DefaultConsumer returns the options of a stage's consumer with sane defaults.
func DefaultConsumer(stage contracts.Stage, durable string, workers int) ConsumerOptions {
	return ConsumerOptions{
		Stage:         stage,
		Durable:       durable,
		AckWait:       3 * time.Second, // live workers send InProgress every third of it
		MaxDeliver:    5,
		BackOff:       []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second, 15 * time.Second},
		MaxAckPending: 4096,
		Workers:       workers,
	}
}

// Validate reports a consumer configuration that cannot work.
func (o ConsumerOptions) Validate() error {
	switch {
	case o.Durable == "":
		return fmt.Errorf("consumer of stage %s: durable name is required", o.Stage)
	case o.Workers < 1:
		return fmt.Errorf("consumer %s: workers must be at least 1", o.Durable)
	case o.MaxDeliver < 1:
		return fmt.Errorf("consumer %s: max deliver must be at least 1", o.Durable)
	case o.AckWait <= 0:
		return fmt.Errorf("consumer %s: ack wait must be positive", o.Durable)
	case o.MaxAckPending < o.Workers:
		return fmt.Errorf("consumer %s: max ack pending %d is below workers %d", o.Durable, o.MaxAckPending, o.Workers)
	}
	return nil
}

// forTenant is the consumer of one tenant's share of the stage, holding at
// most inFlight messages unacknowledged when inFlight > 0.
func (o ConsumerOptions) forTenant(tenant string, inFlight int) ConsumerOptions {
	t := o
	t.Durable = o.Durable + "-" + tenant
	t.Filter = []string{o.Stage.TenantFilter(tenant)}
	if inFlight > 0 {
		t.MaxAckPending = min(inFlight, o.MaxAckPending)
	}
	return t
}

func (o ConsumerOptions) config() jetstream.ConsumerConfig {
	c := jetstream.ConsumerConfig{
		Durable:       o.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    o.MaxDeliver,
		MaxAckPending: o.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	// BackOff overrides AckWait for redeliveries on the server, so it is
	// applied on naks by the subscriber instead (NakWithDelay).
	switch len(o.Filter) {
	case 0:
	case 1:
		c.FilterSubject = o.Filter[0]
	default:
		c.FilterSubjects = o.Filter
	}
	return c
}

// backoff is the nak delay after the n-th delivery (1-based).
func (o ConsumerOptions) backoff(delivered uint64) time.Duration {
	if len(o.BackOff) == 0 {
		return 0
	}
	i := int(delivered) - 1
	if i >= len(o.BackOff) {
		i = len(o.BackOff) - 1
	}
	if i < 0 {
		i = 0
	}
	return o.BackOff[i]
}
