package contracts

// Header keys of work messages.
const (
	HeaderTenant = "Partita-Tenant"
	HeaderJob    = "Partita-Job"
	HeaderPart   = "Partita-Part"
	HeaderKind   = "Partita-Kind"
	HeaderRef    = "Partita-Ref"
	HeaderRows   = "Partita-Rows"
	HeaderModel  = "Partita-Model"
	HeaderSolver = "Partita-Solver"
	HeaderError  = "Partita-Error"
	HeaderTotal  = "Partita-Total"
	HeaderBusy   = "Partita-Busy"
)

// Kinds of message on the aggregate stream.
const (
	KindPart      = "part"
	KindSplitDone = "split-done"
)

// SplitDonePart is the part token of the splitter's end-of-split message.
const SplitDonePart = "total"
