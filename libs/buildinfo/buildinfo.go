// Package buildinfo says which build of Partita is running: the version
// stamped at link time (make build and make image pass
// -X github.com/partita/partita/libs/buildinfo.Version=$(git describe)),
// else what the Go toolchain recorded (the module version, and the VCS
// revision of a build from a checkout outside a workspace).
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version is set at link time; empty in a plain go build.
var Version string

// String is the running build's version, such as v0.3.0-4-g1a2b3c4 or
// (devel)+1a2b3c4d5e6f.
func String() string {
	if Version != "" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}

// Platform is the Go version and target the binary was built with, such
// as go1.26.8 linux/amd64.
func Platform() string {
	return runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
