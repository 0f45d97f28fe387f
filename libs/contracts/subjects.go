package contracts

import (
	"fmt"
	"strconv"
	"strings"
)

// Stage names a pipeline stage; each has one work stream.
type Stage string

// The stages, in pipeline order.
const (
	Ingest    Stage = "ingest"
	Split     Stage = "split"
	Score     Stage = "score"
	Optimize  Stage = "optimize"
	Aggregate Stage = "aggregate"
)

// Stages lists every stage in pipeline order.
var Stages = []Stage{Ingest, Split, Score, Optimize, Aggregate}

// Stream returns the name of the stage's work stream.
func (s Stage) Stream() string { return "PARTITA_" + strings.ToUpper(string(s)) }

// StreamSubjects matches every subject of the stage's stream.
func (s Stage) StreamSubjects() string { return "partita.work." + string(s) + ".>" }

// Subject is the subject of one unit of work: partita.work.<stage>.<tenant>.<job>[.<part>].
func (s Stage) Subject(tenant, job string, part ...string) string {
	subj := "partita.work." + string(s) + "." + tenant + "." + job
	for _, p := range part {
		subj += "." + p
	}
	return subj
}

// TenantFilter matches every subject of a tenant in the stage's stream.
func (s Stage) TenantFilter(tenant string) string {
	return "partita.work." + string(s) + "." + tenant + ".>"
}

// JobFilter matches every subject of a job in the stage's stream.
func (s Stage) JobFilter(tenant, job string) string {
	return "partita.work." + string(s) + "." + tenant + "." + job + ".>"
}

// PartFilter matches the subject of each of a job's parts in the stage's
// stream (….<job>.<part>, and the aggregate stream's ….<job>.total), not
// the re-solves of the job-wide plan's rounds (….<job>.<part>.r<k>).
func (s Stage) PartFilter(tenant, job string) string {
	return "partita.work." + string(s) + "." + tenant + "." + job + ".*"
}

// EventsStream is the stream of job events.
const EventsStream = "PARTITA_EVENTS"

// AllEvents matches every job event.
const AllEvents = "partita.events.>"

// EventSubject is partita.events.<tenant>.<job>.<type>.
func EventSubject(tenant, job, typ string) string {
	return "partita.events." + tenant + "." + job + "." + typ
}

// FinalEvents matches the final event of every job (job.<status>).
func FinalEvents() string { return EventSubject("*", "*", "job.>") }

// TenantEvents matches every event of a tenant's jobs.
func TenantEvents(tenant string) string { return "partita.events." + tenant + ".>" }

// JobEvents matches every event of a job.
func JobEvents(tenant, job string) string { return "partita.events." + tenant + "." + job + ".>" }

// ParseEventSubject reads the tenant and job of an event subject.
func ParseEventSubject(subject string) (tenant, job string, ok bool) {
	parts := strings.SplitN(subject, ".", 5)
	if len(parts) != 5 || parts[0] != "partita" || parts[1] != "events" {
		return "", "", false
	}
	return parts[2], parts[3], true
}

// MsgID is the Nats-Msg-Id of a unit of work, so that a retried publish
// of the same (job, part, stage) is not a second message.
func MsgID(stage Stage, job, part string) string {
	return fmt.Sprintf("%s.%s.%s", job, part, stage)
}

// AttemptSuffix ends the Nats-Msg-Id of a message of a redriven job's
// attempt n ≥ 2 (none for the first), so that within the duplicate window
// a redrive's messages are not taken for the first attempt's.
func AttemptSuffix(attempt int) string {
	if attempt <= 1 {
		return ""
	}
	return ".a" + strconv.Itoa(attempt)
}

// JobToken is the part token of messages about a whole job (ingest, split).
const JobToken = "job"

// ValidToken reports whether s can be one token of a subject.
func ValidToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r > '~' {
			return false
		}
	}
	return true
}
