package models_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/libs/onnxrt"
)

func model() *models.Model {
	return &models.Model{
		Tenant:   "acme",
		Name:     "risk",
		Versions: []models.Version{{Number: 1, Kind: "logistic"}, {Number: 2, Kind: "logistic"}, {Number: 3, Kind: "onnx"}},
		Aliases: map[string]models.Alias{
			"prod":   {Version: 2},
			"ab":     {Weights: map[string]int{"1": 90, "3": 10}},
			"stale":  {Version: 9},
			"staleb": {Weights: map[string]int{"9": 1}},
		},
	}
}

func TestResolve(t *testing.T) {
	m := model()
	tests := []struct {
		ref  string
		want int // 0: not found
	}{
		{"1", 1},
		{"3", 3},
		{"03", 3},
		{"4", 0},
		{"0", 0},
		{"-1", 0},
		{"latest", 3},
		{"prod", 2},
		{"missing", 0},
		{"stale", 0},
		{"staleb", 0},
		{"", 0},
	}
	for _, tc := range tests {
		v, err := m.Resolve(tc.ref, "job", "part")
		if tc.want == 0 {
			require.ErrorIs(t, err, models.ErrNotFound, "%q", tc.ref)
			continue
		}
		require.NoError(t, err, "%q", tc.ref)
		assert.Equal(t, tc.want, v.Number, "%q", tc.ref)
	}

	_, err := (&models.Model{Name: "empty"}).Resolve("latest", "j", "p")
	require.ErrorIs(t, err, models.ErrNotFound)

	v, ok := m.Version(2)
	assert.True(t, ok)
	assert.Equal(t, 2, v.Number)
	_, ok = m.Version(5)
	assert.False(t, ok)
	assert.Equal(t, "risk@3", models.Ref("risk", 3))
}

func TestWeightedAlias(t *testing.T) {
	m := model()
	const parts = 10_000
	counts := map[int]int{}
	for i := range parts {
		part := fmt.Sprintf("%05d", i)
		v, err := m.Resolve("ab", "job-1", part)
		require.NoError(t, err)
		counts[v.Number]++

		again, err := m.Resolve("ab", "job-1", part)
		require.NoError(t, err)
		require.Equal(t, v.Number, again.Number, "a redelivered part uses the same version")
	}
	assert.Equal(t, parts, counts[1]+counts[3], "only weighted versions are picked: %v", counts)
	share := 100 * float64(counts[1]) / parts
	assert.InDelta(t, 90, share, 2, "version 1 share %.1f%%", share)

	// Another job splits its parts independently, with the same shares.
	diff := 0
	for i := range 1000 {
		a, _ := m.Resolve("ab", "job-1", fmt.Sprint(i))
		b, _ := m.Resolve("ab", "job-2", fmt.Sprint(i))
		if a.Number != b.Number {
			diff++
		}
	}
	assert.Positive(t, diff, "the pick depends on the job")

	// A zero weight is never picked; weights need not sum to 100.
	m.Aliases["canary"] = models.Alias{Weights: map[string]int{"1": 0, "2": 3, "3": 1}}
	counts = map[int]int{}
	for i := range 4000 {
		v, err := m.Resolve("canary", "job", fmt.Sprint(i))
		require.NoError(t, err)
		counts[v.Number]++
	}
	assert.Zero(t, counts[1])
	assert.InDelta(t, 75, 100*float64(counts[2])/4000, 3)
}

func TestAliasTargets(t *testing.T) {
	m := model()
	var got []int
	for _, v := range m.AliasTargets() {
		got = append(got, v.Number)
	}
	assert.ElementsMatch(t, []int{1, 2, 3}, got, "missing versions are left out, each version once")
}

func TestParseLogistic(t *testing.T) {
	good := `{"kind":"logistic","features":["a","b"],"mean":[0,1],"scale":[1,2],"weights":[0.5,-1],"bias":0.1}`
	f, err := models.ParseLogistic([]byte(good))
	require.NoError(t, err)
	assert.Equal(t, []float64{0.5, -1}, f.Weights)
	assert.InDelta(t, 0.1, f.Bias, 0)

	for name, doc := range map[string]string{
		"not json":        `{`,
		"wrong kind":      `{"kind":"onnx","mean":[0],"scale":[1],"weights":[1]}`,
		"no weights":      `{"kind":"logistic"}`,
		"short mean":      `{"kind":"logistic","mean":[],"scale":[1],"weights":[1]}`,
		"short scale":     `{"kind":"logistic","mean":[0],"scale":[],"weights":[1]}`,
		"feature count":   `{"kind":"logistic","features":["a","b"],"mean":[0],"scale":[1],"weights":[1]}`,
		"zero scale":      `{"kind":"logistic","mean":[0,0],"scale":[1,0],"weights":[1,1]}`,
		"string in array": `{"kind":"logistic","mean":["0"],"scale":[1],"weights":[1]}`,
	} {
		_, err := models.ParseLogistic([]byte(doc))
		require.ErrorIs(t, err, models.ErrInvalidModel, name)
	}
}

func TestValidate(t *testing.T) {
	v, err := models.Validate(models.KindLogistic, []byte(`{"kind":"logistic","mean":[0,0,0],"scale":[1,1,1],"weights":[1,2,3]}`))
	require.NoError(t, err)
	assert.Equal(t, models.Version{Kind: models.KindLogistic, Width: 3}, v)

	_, err = models.Validate(models.KindLogistic, nil)
	require.ErrorIs(t, err, models.ErrInvalidModel)
	assert.Contains(t, err.Error(), "empty")
	_, err = models.Validate("pickle", []byte("x"))
	require.ErrorIs(t, err, models.ErrInvalidModel)
	assert.Contains(t, err.Error(), `unknown model kind "pickle"`)
	_, err = models.Validate(models.KindLogistic, []byte(strings.Repeat(" ", 10)))
	require.ErrorIs(t, err, models.ErrInvalidModel)

	// Without ONNX Runtime, an ONNX model cannot be checked: that is the
	// server's problem, not an invalid upload.
	_, err = models.Validate(models.KindONNX, []byte("not onnx"))
	require.Error(t, err)
	if errors.Is(err, onnxrt.ErrNotInitialized) {
		assert.NotErrorIs(t, err, models.ErrInvalidModel)
	} else {
		assert.ErrorIs(t, err, models.ErrInvalidModel)
	}
}
