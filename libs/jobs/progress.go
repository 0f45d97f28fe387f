package jobs

// Progress derives per-stage progress from the fan-in record and the parts
// still at the optimize stage (atOptimize: the job's parts in the optimize
// stream that have not reached the aggregate stream, as
// libs/bus.Streams.Pending counts them; 0 once the job ended). Read the
// fan-in record before the stream, so that a part moving on in between is
// missed rather than counted twice.
//
// Every count is of distinct parts, so redeliveries count nothing: a part is
// done at a stage once it is known to have passed it — it reached the
// aggregator (counted once by the fan-in's bitmap) without failing there, or
// it waits at a later stage. A stage's total is the splitter's part count,
// nil until the split ended (before that no total is known, and none is
// shown); done never exceeds it.
func Progress(f *FanIn, atOptimize int, optimize bool) map[string]StageProgress {
	var total *int
	if f.SplitDone {
		total = new(f.Total)
	}
	if !optimize {
		atOptimize = 0
	}
	scoreFailed, optFailed := f.FailedStages["score"], f.FailedStages["optimize"]
	made := max(f.Made, f.DoneCount+atOptimize) // parts the splitter is known to have made
	if total != nil {
		made = *total
	}
	stage := func(done, failed int) StageProgress {
		done = max(done, 0)
		if total != nil {
			done = min(done, *total) // the reads are not one snapshot: a job ending meanwhile
		}
		return StageProgress{Total: total, Done: done, Failed: failed}
	}
	out := map[string]StageProgress{
		"split":     stage(made, 0),
		"score":     stage(f.DoneCount-scoreFailed+atOptimize, scoreFailed),
		"aggregate": stage(f.DoneCount-f.FailedCount, f.FailedCount),
	}
	if optimize {
		out["optimize"] = stage(f.DoneCount-scoreFailed-optFailed, optFailed)
	}
	return out
}
