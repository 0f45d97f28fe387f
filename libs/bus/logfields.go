package bus

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/partita/partita/libs/contracts"
)

// MessageLog is log with the fields that say what a message of a stage is
// of: the stage, the tenant, job, part and round its headers name, where
// they do, and its subject.
func MessageLog(log zerolog.Logger, stage contracts.Stage, msg *message.Message) zerolog.Logger {
	return workLog(log, stage, msg.Metadata.Get, msg.Metadata.Get(MetaSubject))
}

// workLog is log with a message's stage, its headers' tenant, job, part and
// round (read with header), and its subject; empty ones are left out.
func workLog(log zerolog.Logger, stage contracts.Stage, header func(string) string, subject string) zerolog.Logger {
	c := log.With()
	add := func(field, v string) {
		if v != "" {
			c = c.Str(field, v)
		}
	}
	add("stage", string(stage))
	add("tenant", header(contracts.HeaderTenant))
	add("job", header(contracts.HeaderJob))
	add("part", header(contracts.HeaderPart))
	add("round", header(contracts.HeaderRound))
	add("subject", subject)
	return c.Logger()
}
