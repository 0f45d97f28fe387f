package jobs

// Progress derives per-stage progress from the fan-in record and the parts
// still waiting in each work stream (pending[stage]); nothing is counted
// twice and nothing needs a write per part.
func Progress(f *FanIn, pending map[string]int, optimize bool) map[string]StageProgress {
	total := f.Total
	if !f.SplitDone {
		total = pending["score"] + pending["optimize"] + f.DoneCount
	}
	split := StageProgress{Total: total, Done: total}
	if !f.SplitDone {
		split.Total = 0 // not known yet
	}
	scoreFailed := f.FailedStages["score"]
	score := StageProgress{Total: total, Failed: scoreFailed, Done: max(total-pending["score"]-scoreFailed, 0)}
	out := map[string]StageProgress{"split": split, "score": score}
	if optimize {
		optFailed := f.FailedStages["optimize"]
		out["optimize"] = StageProgress{Total: total, Failed: optFailed, Done: max(score.Done-pending["optimize"]-optFailed, 0)}
	}
	out["aggregate"] = StageProgress{Total: total, Done: f.DoneCount - f.FailedCount, Failed: f.FailedCount}
	return out
}
