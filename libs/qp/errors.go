package qp

import "errors"

// Sentinel errors for invalid input. Errors returned by this package wrap one
// of these (test with errors.Is) and add the offending position.
var (
	// ErrDimension reports vectors or matrices whose sizes do not agree.
	ErrDimension = errors.New("qp: dimension mismatch")
	// ErrNotSquare reports a cost matrix P that is not square.
	ErrNotSquare = errors.New("qp: P is not square")
	// ErrNotUpperTriangular reports an entry of P below the diagonal.
	ErrNotUpperTriangular = errors.New("qp: P has an entry below the diagonal")
	// ErrNotFinite reports a NaN anywhere, or an infinite entry in P, A or q.
	ErrNotFinite = errors.New("qp: value is not finite")
	// ErrBoundOrder reports a row with l[i] > u[i].
	ErrBoundOrder = errors.New("qp: lower bound above upper bound")
	// ErrMalformedMatrix reports a CSC matrix whose arrays are inconsistent
	// (pointers not monotone, index out of range, duplicate entry).
	ErrMalformedMatrix = errors.New("qp: malformed sparse matrix")
	// ErrNotConvex reports a cost matrix P found not to be positive
	// semidefinite while factorising the KKT system.
	ErrNotConvex = errors.New("qp: P is not positive semidefinite")
	// ErrSettings reports an invalid Settings or BranchOptions value.
	ErrSettings = errors.New("qp: invalid settings")
	// ErrGroups reports an invalid partition passed to SolveOnePerGroup.
	ErrGroups = errors.New("qp: invalid groups")
)
