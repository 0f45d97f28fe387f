package contracts_test

import (
	"strconv"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/jobs"
	"github.com/partita/partita/libs/spec"
)

func TestSubjectsNameTenantAndJob(t *testing.T) {
	assert.Equal(t, "PARTITA_SCORE", contracts.Score.Stream())
	assert.Equal(t, "partita.work.score.>", contracts.Score.StreamSubjects())
	assert.Equal(t, "partita.work.score.acme.j1.0007", contracts.Score.Subject("acme", "j1", "0007"))
	assert.Equal(t, "partita.work.score.acme.>", contracts.Score.TenantFilter("acme"))
	assert.Equal(t, "partita.work.score.acme.j1.>", contracts.Score.JobFilter("acme", "j1"))
	assert.Equal(t, "partita.work.optimize.acme.j1.*", contracts.Optimize.PartFilter("acme", "j1"))
	assert.Equal(t, "partita.events.acme.j1.job.succeeded", contracts.EventSubject("acme", "j1", contracts.Final(jobs.Succeeded)))
	assert.Equal(t, "partita.events.*.*.job.>", contracts.FinalEvents())
	assert.Equal(t, "j1.0007.score", contracts.MsgID(contracts.Score, "j1", "0007"))

	tenant, job, ok := contracts.ParseEventSubject("partita.events.acme.j1.job.failed")
	assert.True(t, ok)
	assert.Equal(t, []string{"acme", "j1"}, []string{tenant, job})
	for _, bad := range []string{"partita.events.acme", "partita.work.score.acme.j1", "x.events.a.b.c"} {
		_, _, ok := contracts.ParseEventSubject(bad)
		assert.False(t, ok, bad)
	}
}

func TestObjectKeysStartWithTheTenant(t *testing.T) {
	for _, k := range []string{
		contracts.InputKey("acme", "j1"), contracts.PartKey("acme", "j1", "3", contracts.Score),
		contracts.ResultCSVKey("acme", "j1"), contracts.ResultMetaKey("acme", "j1"), contracts.ModelBlobKey("acme", "m", "abc"),
	} {
		assert.Regexp(t, `^acme/`, k)
	}
	assert.Equal(t, "acme/jobs/j1/parts/3/score.arrows", contracts.PartKey("acme", "j1", "3", contracts.Score))
	assert.Regexp(t, "^"+contracts.PartsPrefix("acme", "j1"), contracts.PartKey("acme", "j1", "3", contracts.Score))
	assert.Regexp(t, "^"+contracts.JobPrefix("acme", "j1"), contracts.InputKey("acme", "j1"))
}

func TestIngestRequestRoundTrip(t *testing.T) {
	j := &jobs.Job{ID: "j1", Tenant: "acme", Status: jobs.Queued, Spec: &spec.Spec{Input: spec.Input{Format: "csv"}}}
	subject, msg := contracts.NewIngestRequest(j)
	assert.Equal(t, "partita.work.ingest.acme.j1", subject)
	assert.Equal(t, "j1.job.ingest", msg.UUID, "a retried submit is the same message")
	req, err := contracts.DecodeIngestRequest(msg)
	require.NoError(t, err)
	assert.Equal(t, j, req.Job)

	bad := message.NewMessage("x", []byte(`{"job":{"id":"j1"}}`))
	_, err = contracts.DecodeIngestRequest(bad)
	assert.Error(t, err, "a request without a spec or tenant")
}

// A message from a newer contract version is refused with
// ErrNewerContract (a newer replica must read it), never misread.
func TestNewerContractIsHandedBack(t *testing.T) {
	_, msg := contracts.NewSplitRequest("acme", "j1")
	tenant, job, err := contracts.DecodeSplitRequest(msg)
	require.NoError(t, err)
	assert.Equal(t, []string{"acme", "j1"}, []string{tenant, job})

	msg.Metadata.Set(contracts.HeaderContract, "99")
	_, _, err = contracts.DecodeSplitRequest(msg)
	assert.ErrorIs(t, err, contracts.ErrNewerContract)

	msg.Metadata.Set(contracts.HeaderContract, "one")
	_, _, err = contracts.DecodeSplitRequest(msg)
	assert.Error(t, err)
	assert.NotErrorIs(t, err, contracts.ErrNewerContract)

	msg.Metadata.Set(contracts.HeaderContract, "")
	_, _, err = contracts.DecodeSplitRequest(msg)
	assert.NoError(t, err, "a message without the header is version 1")
}

func TestEventRoundTrip(t *testing.T) {
	e := contracts.Event{Type: contracts.Final(jobs.Failed), Tenant: "acme", JobID: "j1",
		Problem: &contracts.Problem{Status: 400, Code: "input_value", Detail: "row 3"}}
	subject, msg, err := contracts.NewEventMessage(e)
	require.NoError(t, err)
	assert.Equal(t, "partita.events.acme.j1.job.failed", subject)
	assert.Equal(t, e.MsgID(), msg.UUID)
	got, err := contracts.DecodeEvent(msg.Payload, msg.Metadata.Get)
	require.NoError(t, err)
	assert.Equal(t, e.Problem, got.Problem)
	assert.False(t, got.Timestamp.IsZero(), "stamped when published")

	msg.Metadata.Set(contracts.HeaderContract, strconv.Itoa(contracts.Version+1))
	_, err = contracts.DecodeEvent(msg.Payload, msg.Metadata.Get)
	assert.ErrorIs(t, err, contracts.ErrNewerContract)
}
