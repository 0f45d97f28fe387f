package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Pending counts a job's messages still in a stage's stream: for work-queue
// stages, the parts not yet done there.
func Pending(ctx context.Context, js jetstream.JetStream, stage Stage, tenant, job string) (int, error) {
	st, err := js.Stream(ctx, stage.Stream())
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stage.Stream(), err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(stage.JobFilter(tenant, job)))
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", stage.Stream(), err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}

// PurgeJob removes a job's messages from a stage's stream.
func PurgeJob(ctx context.Context, js jetstream.JetStream, stage Stage, tenant, job string) error {
	st, err := js.Stream(ctx, stage.Stream())
	if err != nil {
		return fmt.Errorf("stream %s: %w", stage.Stream(), err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(stage.JobFilter(tenant, job))); err != nil {
		return fmt.Errorf("purge job %s from %s: %w", job, stage.Stream(), err)
	}
	return nil
}
