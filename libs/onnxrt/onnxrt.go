// Package onnxrt runs ONNX models in-process with ONNX Runtime, for the
// scorer's in-process runtime.
//
// The ONNX Runtime shared library (libonnxruntime.so.1, fetched by
// `make onnxruntime` into tools/lib) is loaded at run time with Init, once per
// process. Inspect reads a model's inputs and outputs; NewSession prepares a
// model for scoring rows of float32 features.
package onnxrt

import (
	"errors"
	"fmt"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ErrNotInitialized is returned by Inspect and NewSession before a
// successful Init.
var ErrNotInitialized = errors.New("onnxrt: ONNX Runtime is not initialized (call Init with the library path)")

var loaded struct {
	sync.Mutex
	path string      // the library loaded, as given to Init
	file os.FileInfo // identifies it, so the same file under another name is no conflict
}

// Init loads the ONNX Runtime shared library at libPath and creates the
// process-wide environment. It may be called again with the same library
// (a no-op); another library is an error, since a process holds one runtime.
// A failed Init loads nothing and may be retried.
func Init(libPath string) error {
	if libPath == "" {
		return errors.New("onnxrt: init: empty ONNX Runtime library path")
	}
	fi, err := os.Stat(libPath)
	if err != nil {
		return fmt.Errorf("onnxrt: init: ONNX Runtime library: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("onnxrt: init: ONNX Runtime library %s is not a regular file", libPath)
	}

	loaded.Lock()
	defer loaded.Unlock()
	if loaded.file != nil {
		if os.SameFile(loaded.file, fi) {
			return nil
		}
		return fmt.Errorf("onnxrt: init: ONNX Runtime already loaded from %s, cannot load %s in the same process",
			loaded.path, libPath)
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("onnxrt: init: load ONNX Runtime library %s: %w", libPath, err)
	}
	loaded.path, loaded.file = libPath, fi
	return nil
}

func initialized() bool {
	loaded.Lock()
	defer loaded.Unlock()
	return loaded.file != nil
}
