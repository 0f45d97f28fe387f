package runtime

import (
	"net/http"
	"time"

	"github.com/partita/partita/libs/models"
)

// DefaultsConfig configures the runtimes of a scorer.
type DefaultsConfig struct {
	ORTLib            string        // ONNX Runtime library (libonnxruntime.so.1)
	IntraOpThreads    int           // ONNX Runtime threads per prediction; 0 for one per core
	BatchRows         int           // rows per ONNX Runtime run; 0 for the default
	RemoteConcurrency int           // requests in flight per remote model; 0 for DefaultRemoteConcurrency
	RemoteTimeout     time.Duration // per remote request; 0 for DefaultRemoteTimeout
	RemoteClient      *http.Client  // nil for a plain client; the scorer passes one that refuses internal addresses
}

// Default returns a runtime for every model kind: logistic, onnx, remote.
// Remote models get 3 retries starting at DefaultRemoteBackoff.
func Default(cfg DefaultsConfig) Runtimes {
	return Runtimes{
		models.KindLogistic: Logistic{},
		models.KindONNX:     ONNX{LibPath: cfg.ORTLib, IntraOpThreads: cfg.IntraOpThreads, BatchRows: cfg.BatchRows},
		models.KindRemote: Remote{
			Client:         cfg.RemoteClient,
			BatchRows:      cfg.BatchRows,
			MaxConcurrency: cfg.RemoteConcurrency,
			Timeout:        cfg.RemoteTimeout,
			Retries:        3,
		},
	}
}
