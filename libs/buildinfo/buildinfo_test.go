package buildinfo

import (
	"strings"
	"testing"
)

func TestStampedVersionWins(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = ""
	if got := String(); got == "" {
		t.Fatal("an unstamped build has no version at all")
	}
	Version = "v1.2.3-4-gabcdef0"
	if got := String(); got != "v1.2.3-4-gabcdef0" {
		t.Fatalf("String() = %q, want the stamped version", got)
	}
	if p := Platform(); !strings.HasPrefix(p, "go1.") || !strings.Contains(p, "/") {
		t.Fatalf("Platform() = %q", p)
	}
}
