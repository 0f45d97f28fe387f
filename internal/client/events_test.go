package client

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// A stage whose total the API does not know yet (null until the split
// ended) reads done/?, never done/0.
func TestStagesShowAnUnknownTotal(t *testing.T) {
	var j Job
	require.NoError(t, json.Unmarshal([]byte(`{"id": "j", "status": "running", "progress": {
		"split": {"total": null, "done": 574, "failed": 0},
		"score": {"total": 1026, "done": 12, "failed": 1}}}`), &j))
	stages := j.Stages()
	require.Equal(t, "574/?", stages["split"].Count())
	require.Equal(t, 0, stages["split"].Known())
	require.Equal(t, "12/1026", stages["score"].Count())
	require.Equal(t, 1026, stages["score"].Known())
	require.Equal(t, 1, stages["score"].Failed)
}
