package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/partita/partita/libs/models"
	"github.com/partita/partita/services/scorer"
	"github.com/partita/partita/services/scorer/runtime"
)

// kindSpin is a model kind that burns a fixed amount of real CPU per
// Predict: it stands in for model code whose cost is all compute.
const kindSpin = "bench-spin"

type spinRuntime struct{}

// spinFile is a spin model's file: rounds of SHA-256 per Predict.
type spinFile struct {
	Rounds int `json:"rounds"`
}

func (spinRuntime) Load(_ context.Context, _ models.Version, file []byte) (runtime.Model, error) {
	var f spinFile
	if err := json.Unmarshal(file, &f); err != nil {
		return nil, err
	}
	return spinModel(f.Rounds), nil
}

type spinModel int

func (m spinModel) Predict(_ context.Context, _ []float32, rows int) ([]float32, error) {
	spin(int(m))
	return make([]float32, rows), nil
}
func (spinModel) Width() int   { return 9 }
func (spinModel) Close() error { return nil }

func spin(rounds int) {
	var h [32]byte
	for range rounds {
		h = sha256.Sum256(h[:])
	}
}

// roundsFor calibrates how many rounds take d of CPU on this machine.
func roundsFor(d time.Duration) int {
	const probe = 20000
	start := time.Now()
	spin(probe)
	return max(1, int(float64(probe)*float64(d)/float64(time.Since(start))))
}

// Efficiency runs parts that each do 5 ms of real CPU work and compares the
// makespan with an in-process worker pool of the same size doing the same
// work: efficiency = pool time / Partita time.
func Efficiency(ctx context.Context, o Options) ([]Result, error) {
	n, workers := 2000, 64
	if o.Tiny {
		n = 40
	}
	rounds := roundsFor(5 * time.Millisecond)
	dev, err := StartDev(ctx, o.Dir("efficiency"), []string{"--scorer.workers", fmt.Sprint(workers)},
		scorer.WithRuntimes(runtime.Runtimes{kindSpin: spinRuntime{}}))
	if err != nil {
		return nil, err
	}
	defer dev.Stop()
	file, _ := json.Marshal(spinFile{Rounds: rounds})
	if err := dev.PushModel(ctx, "spin", kindSpin, 9, file, ""); err != nil {
		return nil, err
	}
	input := fleetInput(n, 10)
	var partita, pool []float64
	for range o.Runs {
		start := time.Now()
		id, _, err := dev.Submit(ctx, scoreOnlySpec("spin", 1, ""), input, 0)
		if err != nil {
			return nil, err
		}
		if status, err := dev.WaitEnd(ctx, id); err != nil || status != "succeeded" {
			return nil, fmt.Errorf("efficiency: %s %v", status, err)
		}
		partita = append(partita, time.Since(start).Seconds())
		pool = append(pool, poolMakespan(n, workers, rounds).Seconds())
	}
	p, b := median(partita), median(pool)
	return []Result{{Scenario: "efficiency", Params: map[string]any{"parts": n, "cpu_per_part": "5ms", "workers": workers}, Metric: "efficiency",
		Value: b / p, Unit: "ratio", Baseline: b, BaselineUnit: "s", BaselineDesc: "in-process worker pool of the same size", Ratio: b / p, Runs: o.Runs,
		Mark: "≥ 0.9", MarkMet: met(b/p >= 0.9), Note: fmt.Sprintf("Partita makespan %.2f s, pool %.2f s", p, b)}}, nil
}

// poolMakespan runs n tasks of `rounds` on a pool of `workers` goroutines.
func poolMakespan(n, workers, rounds int) time.Duration {
	return runPool(n, workers, func() { spin(rounds) })
}

// runPool runs task n times on a pool of `workers` goroutines: the
// hand-made worker pool users write today, as a baseline.
func runPool(n, workers int, task func()) time.Duration {
	tasks := make(chan struct{}, n)
	for range n {
		tasks <- struct{}{}
	}
	close(tasks)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tasks {
				task()
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}
