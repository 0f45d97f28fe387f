package contracts

import (
	"net/http"
	"slices"
	"testing"
)

// TestInputCodesAreListed: every reason an input cannot be read answers
// a code ProblemCodes lists with 400, an unknown reason too.
func TestInputCodesAreListed(t *testing.T) {
	for _, reason := range []string{"empty", "encoding", "header", "malformed", "a-reason-added-later"} {
		code := InputCode(reason)
		if !slices.Contains(ProblemCodes, ProblemCode{Status: http.StatusBadRequest, Code: code}) {
			t.Errorf("an input that cannot be read for %q answers 400 %s, which ProblemCodes does not list", reason, code)
		}
	}
	if got := InputCode("a-reason-added-later"); got != CodeInputMalformed {
		t.Errorf("an unknown reason answers %s, want %s", got, CodeInputMalformed)
	}
}
