package gateway

import (
	"bytes"
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

func (s *Service) modelName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if !spec.ValidName(name) {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadModelName, "Bad model name", "a model name is lowercase letters, digits, '-' or '_' (at most 64)")
		return "", false
	}
	return name, true
}

// pushVersion handles POST /v1/models/{name}/versions: the model file as
// the body (?kind=onnx|logistic, default onnx) or a JSON RemoteModel. The
// file is validated (it loads; inputs and outputs recorded) before anything
// is stored.
func (s *Service) pushVersion(w http.ResponseWriter, r *http.Request) {
	name, ok := s.modelName(w, r)
	if !ok {
		return
	}
	limits := limitsOf(r)
	maxSize, code := int64(models.MaxFileSize), contracts.CodeTooLarge
	if l := limits.MaxModelBytes; l > 0 && l < maxSize {
		maxSize, code = l, contracts.CodeTierLimit
	}
	if r.ContentLength > maxSize {
		writeProblem(w, http.StatusRequestEntityTooLarge, code, "Model file too large", fmt.Sprintf("the limit is %d bytes", maxSize))
		return
	}
	if !s.roomForAVersion(w, r, limits.MaxModelVersions) {
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
		kind := r.URL.Query().Get("kind")
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
		s.log.Error().Err(err).Msg("validate model")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot validate the model", err.Error())
		return
	}
	v, err = s.deps.Registry.Push(r.Context(), tenantOf(r), name, file, v)
	if err != nil {
		s.log.Error().Err(err).Msg("push model")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot store the model", "try again shortly")
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/models/%s", name))
	writeJSON(w, http.StatusCreated, v)
}

// roomForAVersion answers 422 tier_limit when the tenant keeps as many
// model versions as its tier allows (0: no limit). Two pushes racing on
// different gateways may both pass: the count is read, not reserved.
func (s *Service) roomForAVersion(w http.ResponseWriter, r *http.Request, limit int) bool {
	if limit == 0 {
		return true
	}
	ms, err := s.deps.Registry.List(r.Context(), tenantOf(r))
	if err != nil {
		s.log.Error().Ctx(r.Context()).Err(err).Str("tenant", tenantOf(r)).Msg("count model versions")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot read the model registry", "try again shortly")
		return false
	}
	n := 0
	for _, m := range ms {
		n += len(m.Versions)
	}
	if n >= limit {
		writeProblem(w, http.StatusUnprocessableEntity, contracts.CodeTierLimit, "Too many model versions",
			fmt.Sprintf("the tier keeps at most %d model versions and %d are stored; delete a version no alias points to", limit, n))
		return false
	}
	return true
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
func (s *Service) listModels(w http.ResponseWriter, r *http.Request) {
	ms, err := s.deps.Registry.List(r.Context(), tenantOf(r))
	if err != nil {
		s.log.Error().Err(err).Msg("list models")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "Cannot list models", "try again shortly")
		return
	}
	if ms == nil {
		ms = []*models.Model{}
	}
	writeJSON(w, http.StatusOK, ModelList{Models: ms})
}

// getModel handles GET /v1/models/{name}.
func (s *Service) getModel(w http.ResponseWriter, r *http.Request) {
	name, ok := s.modelName(w, r)
	if !ok {
		return
	}
	m, err := s.deps.Registry.Get(r.Context(), tenantOf(r), name)
	if s.modelError(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// setAlias handles PUT /v1/models/{name}/aliases/{alias}. Rollback is
// pointing the alias back at an earlier version.
func (s *Service) setAlias(w http.ResponseWriter, r *http.Request) {
	name, ok := s.modelName(w, r)
	if !ok {
		return
	}
	alias := r.PathValue("alias")
	if !spec.ValidName(alias) || alias == "latest" {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadAlias, "Bad alias", "an alias is lowercase letters, digits, '-' or '_', and not `latest`")
		return
	}
	if _, err := strconv.Atoi(alias); err == nil {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadAlias, "Bad alias", "an alias cannot be a number (numbers are versions)")
		return
	}
	var body AliasBody
	if err := decodeStrict(r.Body, 64<<10, &body); err != nil {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadBody, "Bad alias body", `send {"version": N} or {"weights": {"N": W, ...}}: `+err.Error())
		return
	}
	if (body.Version == 0) == (len(body.Weights) == 0) {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadBody, "Bad alias body", `send exactly one of {"version": N} or {"weights": {...}}`)
		return
	}
	total := 0
	for k, wgt := range body.Weights {
		if wgt < 0 {
			writeProblem(w, http.StatusBadRequest, contracts.CodeBadBody, "Bad alias weights", fmt.Sprintf("weight of version %s is negative", k))
			return
		}
		total += wgt
	}
	if len(body.Weights) > 0 && total == 0 {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadBody, "Bad alias weights", "the weights add up to 0")
		return
	}
	m, err := s.deps.Registry.SetAlias(r.Context(), tenantOf(r), name, alias, models.Alias{Version: body.Version, Weights: body.Weights})
	if s.modelError(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// deleteVersion handles DELETE /v1/models/{name}/versions/{version}.
func (s *Service) deleteVersion(w http.ResponseWriter, r *http.Request) {
	name, ok := s.modelName(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || n < 1 {
		writeProblem(w, http.StatusBadRequest, contracts.CodeBadVersion, "Bad version", "a version is a positive number")
		return
	}
	m, err := s.deps.Registry.DeleteVersion(r.Context(), tenantOf(r), name, n)
	if errors.Is(err, models.ErrInUse) {
		writeProblem(w, http.StatusConflict, contracts.CodeVersionInUse, "The version is in use", err.Error())
		return
	}
	if s.modelError(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// modelError answers a registry error; it reports whether it did.
func (s *Service) modelError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, models.ErrNotFound):
		writeProblem(w, http.StatusNotFound, contracts.CodeModelNotFound, "No such model or version", err.Error())
	default:
		s.log.Error().Err(err).Msg("model registry")
		writeProblem(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "The model registry is unavailable", "try again shortly")
	}
	return true
}
