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

// usageOf is the usage of a job as its closed fan-in count and result
// show it, with the CPU ingest and finalization took.
func usageOf(j *Job, f *FanIn, e Ending) *JobUsage {
	u := &JobUsage{Parts: f.Total, Rows: j.Input.Rows, InputBytes: j.Input.Bytes, ResultBytes: resultBytes(e.Result),
		Seconds: addSeconds(map[string]float64{}, f.Busy), SolverIterations: f.Iterations,
		CPUSeconds:   addSeconds(map[string]float64{"ingest": j.Input.CPUSeconds, "aggregate": e.CPUSeconds}, f.CPU),
		PartsByModel: f.Models, InferencesByModel: f.Inferences}
	for _, n := range f.Inferences {
		u.Inferences += n
	}
	return u
}
