package gateway

import (
	"net/http"

	"github.com/partita/partita/libs/spec"
)

// checkSupported refuses what this installation cannot run yet.
func (s *Service) checkSupported(sp *spec.Spec) *Problem {
	if sp.Optimize != nil && sp.Optimize.Select.OnePerGroup != "" {
		return &Problem{Status: http.StatusUnprocessableEntity, Code: "select_unsupported", Title: "select: one_per_group is not available",
			Detail: "this installation solves continuous problems only; use select: none", Errors: []FieldError{{Path: "optimize.select", Message: "one_per_group is not supported by this installation"}}}
	}
	return nil
}
