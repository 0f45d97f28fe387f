package contracts

import "fmt"

// Object keys of a job in the artifact store. Every key starts with the
// tenant, then jobs/<id>/.

// JobPrefix holds every object of a job.
func JobPrefix(tenant, job string) string { return tenant + "/jobs/" + job + "/" }

// InputKey is the uploaded input of a job.
func InputKey(tenant, job string) string { return JobPrefix(tenant, job) + "input" }

// PartsPrefix holds the claim-checked parts of a job.
func PartsPrefix(tenant, job string) string { return JobPrefix(tenant, job) + "parts/" }

// PartKey is the object key of a part's rows written for a stage.
func PartKey(tenant, job, part string, stage Stage) string {
	return fmt.Sprintf("%s%s/%s.arrows", PartsPrefix(tenant, job), part, stage)
}

// SortRunKey is the object key of a sorted run of a job's result rows
// (the aggregator's external sort), under the parts prefix so that the
// job's cleanup removes it.
func SortRunKey(tenant, job string, n int) string {
	return fmt.Sprintf("%ssort/run-%06d.chunks", PartsPrefix(tenant, job), n)
}

// SpillRunKey is the object key of a run of rows the splitter spilled
// while splitting a job (groups not yet full), under the parts prefix so
// that the job's cleanup removes it.
func SpillRunKey(tenant, job string, n int) string {
	return fmt.Sprintf("%ssplit/spill-%06d.chunks", PartsPrefix(tenant, job), n)
}

// KeptPartsPrefix holds the parts a failed attempt of a job finished,
// kept beside its input (not under its working parts) until the job is
// redriven to success or its retention ends.
func KeptPartsPrefix(tenant, job string) string { return JobPrefix(tenant, job) + "kept/" }

// KeptPartKey is the object of one kept part (libs/work.Keep).
func KeptPartKey(tenant, job, part string) string {
	return KeptPartsPrefix(tenant, job) + part + ".part"
}

// ResultCSVKey is where the result rows are kept.
func ResultCSVKey(tenant, job string) string { return JobPrefix(tenant, job) + "result.csv" }

// ResultMetaKey is where the result's summary and part reports are kept.
func ResultMetaKey(tenant, job string) string { return JobPrefix(tenant, job) + "result.meta.json" }

// ModelBlobKey is where a model file of a tenant is kept, by digest.
func ModelBlobKey(tenant, model, digest string) string {
	return fmt.Sprintf("%s/models/%s/blobs/%s", tenant, model, digest)
}
