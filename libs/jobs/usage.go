package jobs

// JobUsage is what one job consumed, fixed when it ends (libs/usage
// accumulates it per tenant and day). Each part counts once, however often
// it was redelivered: the figures come from the job's fan-in count.
type JobUsage struct {
	// Parts the splitter made; with a model, PartsByModel sums to the parts
	// it scored (all of them for a job that succeeded).
	Parts int `json:"parts"`
	// Rows the job's input held (what ingest counted).
	Rows int `json:"rows"`
	// Inferences are the rows a model scored, summed over InferencesByModel;
	// equal to Rows for a job with a model that succeeded.
	Inferences        int                `json:"inferences"`
	InferencesByModel map[string]int     `json:"inferences_per_model,omitempty"` // "name@version" → rows
	PartsByModel      map[string]int     `json:"parts_per_model,omitempty"`      // "name@version" → parts
	InputBytes        int64              `json:"input_bytes"`                    // the upload
	ResultBytes       int64              `json:"result_bytes"`                   // the stored result
	Seconds           map[string]float64 `json:"seconds_per_stage"`              // time each stage worked on the job
	CPUSeconds        map[string]float64 `json:"cpu_seconds_per_stage"`          // CPU charged to the job per stage (libs/cpuacct)
	SolverIterations  int                `json:"solver_iterations"`              // over every solve and re-solve
}

// usageOf is the usage of a job's current attempt as its closed fan-in
// count and result show it, with the CPU ingest and finalization took. A
// redrive counts only the parts it ran and the rows they held; the input
// was uploaded and checked once, by the first attempt.
func usageOf(j *Job, f *FanIn, e Ending) *JobUsage {
	u := &JobUsage{Parts: max(f.Total-f.KeptCount, 0), Rows: j.Input.Rows, InputBytes: j.Input.Bytes, ResultBytes: resultBytes(e.Result),
		Seconds: addSeconds(map[string]float64{}, f.Busy), SolverIterations: f.Iterations,
		CPUSeconds:   addSeconds(map[string]float64{"ingest": j.Input.CPUSeconds, "aggregate": e.CPUSeconds}, f.CPU),
		PartsByModel: f.Models, InferencesByModel: f.Inferences}
	if j.Attempt() > 1 {
		u.Rows, u.InputBytes = f.Rows, 0
		u.CPUSeconds = addSeconds(map[string]float64{"aggregate": e.CPUSeconds}, f.CPU)
	}
	for _, n := range f.Inferences {
		u.Inferences += n
	}
	return u
}

// plus is u and o added up (u may be nil: o alone), as new maps.
func (u *JobUsage) plus(o *JobUsage) *JobUsage {
	if u == nil {
		u = &JobUsage{}
	}
	return &JobUsage{Parts: u.Parts + o.Parts, Rows: u.Rows + o.Rows, Inferences: u.Inferences + o.Inferences,
		InputBytes: u.InputBytes + o.InputBytes, ResultBytes: u.ResultBytes + o.ResultBytes, SolverIterations: u.SolverIterations + o.SolverIterations,
		InferencesByModel: addCounts(addCounts(nil, u.InferencesByModel), o.InferencesByModel),
		PartsByModel:      addCounts(addCounts(nil, u.PartsByModel), o.PartsByModel),
		Seconds:           addSeconds(addSeconds(map[string]float64{}, u.Seconds), o.Seconds),
		CPUSeconds:        addSeconds(addSeconds(map[string]float64{}, u.CPUSeconds), o.CPUSeconds)}
}

// addCounts adds the counts of add to to, making it if needed.
func addCounts(to, add map[string]int) map[string]int {
	for k, n := range add {
		if to == nil {
			to = map[string]int{}
		}
		to[k] += n
	}
	return to
}
