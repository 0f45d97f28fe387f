package contracts

// Header keys of work messages.
const (
	HeaderTenant     = "Partita-Tenant"
	HeaderJob        = "Partita-Job"
	HeaderPart       = "Partita-Part"
	HeaderKind       = "Partita-Kind"
	HeaderRef        = "Partita-Ref"
	HeaderRows       = "Partita-Rows"
	HeaderModel      = "Partita-Model"
	HeaderSolver     = "Partita-Solver"
	HeaderError      = "Partita-Error"
	HeaderTotal      = "Partita-Total"
	HeaderBusy       = "Partita-Busy"
	HeaderCPU        = "Partita-CPU"        // CPU-seconds charged to the part per stage (JSON object)
	HeaderInferences = "Partita-Inferences" // rows a model scored
	HeaderWhole      = "Partita-Whole"      // "true": the part holds every row of its split.by group
	HeaderSingle     = "Partita-Single"     // "true": the part is the job's only part
	HeaderRound      = "Partita-Round"      // the coordination round of a re-solve and of its result
	HeaderTrials     = "Partita-Trials"     // the trial prices of the coupling rows for a re-solve (JSON list)
	HeaderSelect     = "Partita-Select"     // "true": a re-solve selects one row per group at each trial's prices
	HeaderReports    = "Partita-Reports"    // a part's reports to the plan's coordinator, one per trial (JSON list)
	HeaderAttempt    = "Partita-Attempt"    // the run of a redriven job the part belongs to (absent: the first)
)

// Kinds of message on the aggregate stream.
const (
	KindPart      = "part"
	KindSplitDone = "split-done"
	// KindRound is a re-solve of a part at new prices (optimize stream)
	// and its result, the decision variable only (aggregate stream).
	KindRound = "round"
)

// SplitDonePart is the part token of the splitter's end-of-split message.
const SplitDonePart = "total"
