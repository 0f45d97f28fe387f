package contracts

import (
	"net/http"

	"github.com/partita/partita/libs/spec"
)

// The stable codes of the API's problem documents. The gateway answers
// with them, and ingest with those of a rejected input (Problem), which the
// gateway relays as they are: both take them from here, and ProblemCodes
// says with which statuses each is sent. docs/api.md's error table is
// tested against ProblemCodes, and the gateway's and ingest's sources
// against these constants (services/gateway/problems_test.go): a new code
// is added here first.
const (
	CodeAdminDisabled         = "admin_disabled"
	CodeBadAlias              = "bad_alias"
	CodeBadBody               = "bad_body"
	CodeBadGrace              = "bad_grace"
	CodeBadModelName          = "bad_model_name"
	CodeBadMultipart          = "bad_multipart"
	CodeBadName               = "bad_name"
	CodeBadPrefer             = "bad_prefer"
	CodeBadQuery              = "bad_query"
	CodeBadTier               = "bad_tier"
	CodeBadVersion            = "bad_version"
	CodeConfirmationRequired  = "confirmation_required"
	CodeExpressionColumns     = "expression_columns"
	CodeForbidden             = "forbidden"
	CodeIdempotencyInProgress = "idempotency_in_progress"
	CodeIdempotencyMismatch   = "idempotency_mismatch"
	CodeInputEmpty            = "input_empty"
	CodeInputEncoding         = "input_encoding"
	CodeInputHeader           = "input_header"
	CodeInputMalformed        = "input_malformed"
	CodeInputURLRefused       = "input_url_refused"
	CodeInputValue            = "input_value"
	CodeInternal              = "internal"
	CodeInvalidModel          = "invalid_model"
	CodeInvalidSpec           = "invalid_spec"
	CodeJobEnding             = "job_ending"
	CodeJobNotFound           = "job_not_found"
	CodeJobNotRedrivable      = "job_not_redrivable"
	CodeJobRunning            = "job_running"
	CodeMissingInput          = "missing_input"
	CodeMissingSpec           = "missing_spec"
	CodeModelMismatch         = "model_mismatch"
	CodeModelNotFound         = "model_not_found"
	CodeNoResult              = "no_result"
	CodeNonConvex             = spec.CodeNonConvex
	CodeNotFound              = "not_found"
	CodeOnnxUnavailable       = "onnx_unavailable"
	CodeRateLimited           = "rate_limited"
	CodeRequestTimeout        = "request_timeout"
	CodeSpecColumns           = "spec_columns"
	CodeTenantExists          = "tenant_exists"
	CodeTenantSuspended       = "tenant_suspended"
	CodeTierLimit             = "tier_limit"
	CodeTooLarge              = "too_large"
	CodeUnauthorized          = "unauthorized"
	CodeUnavailable           = "unavailable"
	CodeUnsupportedMediaType  = "unsupported_media_type"
	CodeVersionInUse          = "version_in_use"
	CodeWebhookRefused        = "webhook_refused"
)

// ProblemCode is one status a problem code is sent with.
type ProblemCode struct {
	Status int
	Code   string
}

// ProblemCodes is every (status, code) pair of a problem document the API
// can answer with; a code sent with several statuses is listed with each.
var ProblemCodes = []ProblemCode{
	{http.StatusBadRequest, CodeBadAlias},
	{http.StatusBadRequest, CodeBadBody},
	{http.StatusBadRequest, CodeBadGrace},
	{http.StatusBadRequest, CodeBadModelName},
	{http.StatusBadRequest, CodeBadMultipart},
	{http.StatusBadRequest, CodeBadName},
	{http.StatusBadRequest, CodeBadPrefer},
	{http.StatusBadRequest, CodeBadQuery},
	{http.StatusBadRequest, CodeBadTier},
	{http.StatusBadRequest, CodeBadVersion},
	{http.StatusBadRequest, CodeConfirmationRequired},
	{http.StatusBadRequest, CodeInputEmpty},
	{http.StatusBadRequest, CodeInputEncoding},
	{http.StatusBadRequest, CodeInputHeader},
	{http.StatusBadRequest, CodeInputMalformed},
	{http.StatusBadRequest, CodeInputValue},
	{http.StatusBadRequest, CodeInvalidSpec},
	{http.StatusBadRequest, CodeMissingInput},
	{http.StatusBadRequest, CodeMissingSpec},
	{http.StatusBadRequest, CodeSpecColumns},
	{http.StatusUnauthorized, CodeUnauthorized},
	{http.StatusForbidden, CodeAdminDisabled},
	{http.StatusForbidden, CodeForbidden},
	{http.StatusForbidden, CodeTenantSuspended},
	{http.StatusNotFound, CodeJobNotFound},
	{http.StatusNotFound, CodeModelNotFound},
	{http.StatusNotFound, CodeNoResult},
	{http.StatusNotFound, CodeNotFound},
	{http.StatusRequestTimeout, CodeRequestTimeout},
	{http.StatusConflict, CodeIdempotencyInProgress},
	{http.StatusConflict, CodeJobEnding},
	{http.StatusConflict, CodeJobNotRedrivable},
	{http.StatusConflict, CodeJobRunning},
	{http.StatusConflict, CodeTenantExists},
	{http.StatusConflict, CodeVersionInUse},
	{http.StatusRequestEntityTooLarge, CodeTierLimit},
	{http.StatusRequestEntityTooLarge, CodeTooLarge},
	{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType},
	{http.StatusUnprocessableEntity, CodeExpressionColumns},
	{http.StatusUnprocessableEntity, CodeIdempotencyMismatch},
	{http.StatusUnprocessableEntity, CodeInputURLRefused},
	{http.StatusUnprocessableEntity, CodeInvalidModel},
	{http.StatusUnprocessableEntity, CodeModelMismatch},
	{http.StatusUnprocessableEntity, CodeModelNotFound},
	{http.StatusUnprocessableEntity, CodeNonConvex},
	{http.StatusUnprocessableEntity, CodeTierLimit},
	{http.StatusUnprocessableEntity, CodeWebhookRefused},
	{http.StatusTooManyRequests, CodeRateLimited},
	{http.StatusTooManyRequests, CodeTierLimit},
	{http.StatusInternalServerError, CodeInternal},
	{http.StatusServiceUnavailable, CodeOnnxUnavailable},
	{http.StatusServiceUnavailable, CodeUnavailable},
}

// inputCodes maps the codes of a table.InputError (libs/table) to the
// problem codes of an input that cannot be read.
var inputCodes = map[string]string{
	"empty":     CodeInputEmpty,
	"encoding":  CodeInputEncoding,
	"header":    CodeInputHeader,
	"malformed": CodeInputMalformed,
}

// InputCode is the problem code of an input that cannot be read for the
// reason a table.InputError's code gives; a reason it does not know is
// input_malformed, a code the API documents.
func InputCode(tableCode string) string {
	if c, ok := inputCodes[tableCode]; ok {
		return c
	}
	return CodeInputMalformed
}
