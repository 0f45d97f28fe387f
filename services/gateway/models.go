package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/partita/partita/libs/contracts"
	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/spec"
)

// RemoteModel is the body that registers a model served elsewhere over the
// Open Inference Protocol v2.
type RemoteModel struct {
	Kind     string `json:"kind" enum:"remote"`
	Endpoint string `json:"endpoint" doc:"model base URL, e.g. https://host/v2/models/NAME[/versions/V]"`
	Width    int    `json:"width" doc:"number of input features"`
}

// AliasBody points an alias at one version or at weighted versions.
type AliasBody struct {
	Version int            `json:"version,omitempty"`
	Weights map[string]int `json:"weights,omitempty"`
}

// ModelList is the tenant's models.
type ModelList struct {
	Models []*models.Model `json:"models"`
}

// ModelRef names a model in a route's path.
type ModelRef struct {
	Name string `path:"name" doc:"model name"`
}

// checkName refuses a model name the registry would not take.
func (m *ModelRef) checkName() error {
	if !spec.ValidName(m.Name) {
		return problem(http.StatusBadRequest, contracts.CodeBadModelName, "Bad model name", "a model name is lowercase letters, digits, '-' or '_' (at most 64)")
	}
	return nil
}

type pushInput struct {
	ModelRef
	Kind string `query:"kind" doc:"the file's kind: onnx (default) or logistic; a JSON remote model says its own"`
}

// pushVersion handles POST /v1/models/{name}/versions: the model file as
// the body (?kind=onnx|logistic, default onnx) or a JSON RemoteModel. The
// file is validated (it loads; inputs and outputs recorded) before anything
// is stored.
func (s *Service) pushVersion(w http.ResponseWriter, r *http.Request, in *pushInput) {
	if err := in.checkName(); err != nil {
		writeErr(w, err)
		return
	}
	name := in.Name
	limits := limitsOf(r)
	maxSize, code := int64(models.MaxFileSize), contracts.CodeTooLarge
	if l := limits.MaxModelBytes; l > 0 && l < maxSize {
		maxSize, code = l, contracts.CodeTierLimit
	}
	if r.ContentLength > maxSize {
		writeProblem(w, http.StatusRequestEntityTooLarge, code, "Model file too large", fmt.Sprintf("the limit is %d bytes", maxSize))
		return
	}
	if p := s.roomForAVersion(r.Context(), limits.MaxModelVersions); p != nil {
		writeProblemDoc(w, p)
		return
	}
	file, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSize))
	if err != nil {
		p := bodyProblem(err)
		if p.Status == http.StatusRequestEntityTooLarge {
			p.Code, p.Detail = code, fmt.Sprintf("the limit is %d bytes", maxSize)
		}
		writeProblemDoc(w, p)
		return
	}
	var v models.Version
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && bytes.Contains(file, []byte(`"remote"`)) {
		v, err = remoteVersion(file)
	} else {
		kind := in.Kind
		if kind == "" {
			kind = models.KindONNX
		}
		if kind == models.KindONNX {
			if err := s.deps.ONNX(); err != nil {
				writeProblem(w, http.StatusServiceUnavailable, contracts.CodeOnnxUnavailable, "ONNX Runtime is not available", err.Error())
				return
			}
		}
		v, err = models.Validate(kind, file)
	}
	if errors.Is(err, models.ErrInvalidModel) {
		writeProblem(w, http.StatusUnprocessableEntity, contracts.CodeInvalidModel, "The model was refused", err.Error())
		return
	}
	if err != nil {
		s.log.Error().Ctx(r.Context()).Err(err).Str("tenant", tenantOf(r)).Str("model", name).Msg("validate model")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot validate the model", err.Error())
		return
	}
	v, err = s.deps.Registry.Push(r.Context(), tenantOf(r), name, file, v)
	if err != nil {
		s.log.Error().Ctx(r.Context()).Err(err).Str("tenant", tenantOf(r)).Str("model", name).Msg("push model")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot store the model", "try again shortly")
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/models/%s", name))
	writeJSON(w, http.StatusCreated, v)
}

// roomForAVersion is 422 tier_limit when the tenant keeps as many model
// versions as its tier allows (0: no limit), nil when there is room. Two
// pushes racing on different gateways may both pass: the count is read,
// not reserved.
func (s *Service) roomForAVersion(ctx context.Context, limit int) *Problem {
	if limit == 0 {
		return nil
	}
	ms, err := s.deps.Registry.List(ctx, tenantIn(ctx))
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenantIn(ctx)).Msg("count model versions")
		return problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot read the model registry", "try again shortly")
	}
	n := 0
	for _, m := range ms {
		n += len(m.Versions)
	}
	if n >= limit {
		return problem(http.StatusUnprocessableEntity, contracts.CodeTierLimit, "Too many model versions",
			fmt.Sprintf("the tier keeps at most %d model versions and %d are stored; delete a version no alias points to", limit, n))
	}
	return nil
}

func remoteVersion(body []byte) (models.Version, error) {
	var rm RemoteModel
	if err := decodeStrict(bytes.NewReader(body), int64(len(body)), &rm); err != nil {
		return models.Version{}, fmt.Errorf("%w: remote model: %v", models.ErrInvalidModel, err)
	}
	u, err := url.Parse(rm.Endpoint)
	switch {
	case rm.Kind != models.KindRemote:
		return models.Version{}, fmt.Errorf("%w: kind must be remote", models.ErrInvalidModel)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.Contains(u.Path, "/v2/models/"):
		return models.Version{}, fmt.Errorf("%w: endpoint must be an http(s) URL of an Open Inference Protocol v2 model (…/v2/models/NAME)", models.ErrInvalidModel)
	case rm.Width < 1:
		return models.Version{}, fmt.Errorf("%w: width must be the number of input features", models.ErrInvalidModel)
	}
	return models.Version{Kind: models.KindRemote, Endpoint: strings.TrimRight(rm.Endpoint, "/"), Width: rm.Width}, nil
}

// listModels handles GET /v1/models.
func (s *Service) listModels(ctx context.Context, _ *noParams) (*answer[ModelList], error) {
	ms, err := s.deps.Registry.List(ctx, tenantIn(ctx))
	if err != nil {
		s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenantIn(ctx)).Msg("list models")
		return nil, problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot list models", "try again shortly")
	}
	if ms == nil {
		ms = []*models.Model{}
	}
	return &answer[ModelList]{Body: ModelList{Models: ms}}, nil
}

// getModel handles GET /v1/models/{name}.
func (s *Service) getModel(ctx context.Context, in *ModelRef) (*answer[*models.Model], error) {
	if err := in.checkName(); err != nil {
		return nil, err
	}
	m, err := s.deps.Registry.Get(ctx, tenantIn(ctx), in.Name)
	if err != nil {
		return nil, s.modelError(ctx, err)
	}
	return &answer[*models.Model]{Body: m}, nil
}

type setAliasInput struct {
	ModelRef
	Alias string `path:"alias" doc:"alias name"`
	Body  AliasBody
}

// setAlias handles PUT /v1/models/{name}/aliases/{alias}. Rollback is
// pointing the alias back at an earlier version.
func (s *Service) setAlias(ctx context.Context, in *setAliasInput) (*answer[*models.Model], error) {
	if err := in.checkName(); err != nil {
		return nil, err
	}
	if !spec.ValidName(in.Alias) || in.Alias == "latest" {
		return nil, problem(http.StatusBadRequest, contracts.CodeBadAlias, "Bad alias", "an alias is lowercase letters, digits, '-' or '_', and not `latest`")
	}
	if _, err := strconv.Atoi(in.Alias); err == nil {
		return nil, problem(http.StatusBadRequest, contracts.CodeBadAlias, "Bad alias", "an alias cannot be a number (numbers are versions)")
	}
	body := in.Body
	if (body.Version == 0) == (len(body.Weights) == 0) {
		return nil, problem(http.StatusBadRequest, contracts.CodeBadBody, "Bad alias body", `send exactly one of {"version": N} or {"weights": {...}}`)
	}
	total := 0
	for k, wgt := range body.Weights {
		if wgt < 0 {
			return nil, problem(http.StatusBadRequest, contracts.CodeBadBody, "Bad alias weights", fmt.Sprintf("weight of version %s is negative", k))
		}
		total += wgt
	}
	if len(body.Weights) > 0 && total == 0 {
		return nil, problem(http.StatusBadRequest, contracts.CodeBadBody, "Bad alias weights", "the weights add up to 0")
	}
	m, err := s.deps.Registry.SetAlias(ctx, tenantIn(ctx), in.Name, in.Alias, models.Alias{Version: body.Version, Weights: body.Weights})
	if err != nil {
		return nil, s.modelError(ctx, err)
	}
	return &answer[*models.Model]{Body: m}, nil
}

type deleteVersionInput struct {
	ModelRef
	Version string `path:"version" doc:"version number"`
}

// deleteVersion handles DELETE /v1/models/{name}/versions/{version}.
func (s *Service) deleteVersion(ctx context.Context, in *deleteVersionInput) (*answer[*models.Model], error) {
	if err := in.checkName(); err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(in.Version)
	if err != nil || n < 1 {
		return nil, problem(http.StatusBadRequest, contracts.CodeBadVersion, "Bad version", "a version is a positive number")
	}
	m, err := s.deps.Registry.DeleteVersion(ctx, tenantIn(ctx), in.Name, n)
	if errors.Is(err, models.ErrInUse) {
		return nil, problem(http.StatusConflict, contracts.CodeVersionInUse, "The version is in use", err.Error())
	}
	if err != nil {
		return nil, s.modelError(ctx, err)
	}
	return &answer[*models.Model]{Body: m}, nil
}

// modelError is the problem of a registry error.
func (s *Service) modelError(ctx context.Context, err error) error {
	if errors.Is(err, models.ErrNotFound) {
		return problem(http.StatusNotFound, contracts.CodeModelNotFound, "No such model or version", err.Error())
	}
	s.log.Error().Ctx(ctx).Err(err).Str("tenant", tenantIn(ctx)).Msg("model registry")
	return problem(http.StatusServiceUnavailable, contracts.CodeUnavailable, "The model registry is unavailable", "try again shortly")
}
