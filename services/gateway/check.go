package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/spec"
)

// checkModel refuses a spec whose model cannot score it: a model or
// version that does not exist, or one whose input width differs from the
// number of features (for an A/B alias, any of its versions).
func (s *Service) checkModel(ctx context.Context, tenant string, sp *spec.Spec) *Problem {
	refuse := func(status int, code, path, msg string) *Problem {
		return &Problem{Status: status, Code: code, Title: "The spec's model cannot score it", Detail: msg, Errors: []FieldError{{Path: path, Message: msg}}}
	}
	m, err := s.deps.Registry.Get(ctx, tenant, sp.Score.Model)
	if errors.Is(err, models.ErrNotFound) {
		return refuse(http.StatusUnprocessableEntity, contracts.CodeModelNotFound, "score.model", fmt.Sprintf("model %q is not in your registry", sp.Score.Model))
	}
	if err != nil {
		return &Problem{Status: http.StatusServiceUnavailable, Code: contracts.CodeUnavailable, Title: "The model registry is unavailable", Detail: "try again shortly"}
	}
	var candidates []models.Version
	if a, ok := m.Aliases[sp.Score.Version]; ok && len(a.Weights) > 0 {
		for k, w := range a.Weights {
			n, _ := strconv.Atoi(k)
			if v, ok := m.Version(n); ok && w > 0 {
				candidates = append(candidates, v)
			}
		}
	} else {
		v, err := m.Resolve(sp.Score.Version, "", "")
		if err != nil {
			return refuse(http.StatusUnprocessableEntity, contracts.CodeModelNotFound, "score.version", err.Error())
		}
		candidates = append(candidates, v)
	}
	for _, v := range candidates {
		if v.Width != len(sp.Score.Features) {
			return refuse(http.StatusUnprocessableEntity, contracts.CodeModelMismatch, "score.features",
				fmt.Sprintf("model %s takes %d features; the spec names %d", models.Ref(m.Name, v.Number), v.Width, len(sp.Score.Features)))
		}
	}
	return nil
}
