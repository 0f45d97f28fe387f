package webhooks

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, c.Validate())
	assert.Equal(t, defaultSchedule, c.Schedule)
	assert.Equal(t, 15*time.Second, c.RequestTimeout)
	assert.False(t, c.AllowLoopback)

	require.NoError(t, fs.Parse([]string{"--webhooks.schedule=1s, 2m", "--webhooks.workers=2"}))
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Minute}, c.Schedule)
	assert.Equal(t, "1s,2m0s", fs.Lookup("webhooks.schedule").Value.String())
	assert.Nil(t, fs.Lookup("webhooks.allow-loopback"), "the outbound policy is the platform's (--outbound.*), not a webhooks flag")
	assert.Equal(t, 2, c.Workers)
	assert.Equal(t, []time.Duration{5 * time.Second, 5 * time.Minute}, defaultSchedule[:2], "defaults are not changed by flags")

	assert.Error(t, fs.Parse([]string{"--webhooks.schedule=soon"}))
}

func TestConfigValidate(t *testing.T) {
	for _, bad := range []Config{
		{RequestTimeout: time.Second, Workers: 1},
		{Schedule: []time.Duration{time.Second, 0}, RequestTimeout: time.Second, Workers: 1},
		{Schedule: []time.Duration{time.Second}, Workers: 1},
		{Schedule: []time.Duration{time.Second}, RequestTimeout: time.Second},
	} {
		assert.Error(t, bad.Validate(), "%+v", bad)
	}
}

func TestRetryDelay(t *testing.T) {
	for n, base := range defaultSchedule {
		for _, jitter := range []float64{-1, 0, 0.999} {
			d, ok := retryDelay(defaultSchedule, n+1, jitter)
			require.True(t, ok)
			assert.GreaterOrEqual(t, d, base*9/10)
			assert.LessOrEqual(t, d, base*11/10)
		}
	}
	d, _ := retryDelay(defaultSchedule, 1, 0)
	assert.Equal(t, 5*time.Second, d)
	_, ok := retryDelay(defaultSchedule, len(defaultSchedule)+1, 0)
	assert.False(t, ok, "after the last wait the event is given up")
}
