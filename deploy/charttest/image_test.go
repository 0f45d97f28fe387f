package charttest

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDefaultImageIsMakeImages: the image the chart runs by default is the
// one `make image` builds and tags. The test reads the tag from the
// command `make image` would run (make -n: what mk/image.mk passes
// deploy/image as -repo and -version, with no IMAGE_* of the caller's), so
// a change to either side — the chart's appVersion or repository, or how
// mk/image.mk picks its tag — fails here.
func TestDefaultImageIsMakeImages(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("make", "-s", "-n", "-C", repoRoot(t), "image")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "IMAGE_VERSION=") || strings.HasPrefix(kv, "IMAGE_REPO=") || strings.HasPrefix(kv, "MAKEFLAGS=")
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n image: %v\n%s", err, out)
	}
	recipe := strings.ReplaceAll(string(out), "\\\n", " ")
	run := regexp.MustCompile(`(?m)^.*\bgo run \..*$`).FindString(recipe)
	repo := regexp.MustCompile(`\s-repo\s+(\S+)`).FindStringSubmatch(run)
	version := regexp.MustCompile(`\s-version\s+(\S+)`).FindStringSubmatch(run)
	if repo == nil || version == nil {
		t.Fatalf("make -n image runs no `go run . … -repo R -version V`:\n%s", out)
	}
	built := repo[1] + ":" + version[1]

	for name, args := range map[string][]string{"all-in-one": nil, "microservices": {"-f", microservices(t)}} {
		rel, err := template(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range rel.workloads() {
			for _, c := range w.template.Spec.Containers {
				if c.Image != built {
					t.Errorf("%s: %s %s runs %s by default; make image builds %s", name, w.kind, w.name, c.Image, built)
				}
			}
		}
	}
}
