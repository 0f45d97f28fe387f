package tmpx

import (
	"bytes"
	"fmt"
	"github.com/partita/partita/libs/table"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSlow(t *testing.T) {
	for _, fz := range []string{"FuzzCSV", "FuzzJSONL"} {
		files, _ := filepath.Glob("/root/.cache/go-build/fuzz/github.com/partita/partita/libs/table/" + fz + "/*")
		format := map[string]string{"FuzzCSV": "csv", "FuzzJSONL": "jsonl"}[fz]
		var max time.Duration
		for _, f := range files {
			b, _ := os.ReadFile(f)
			lines := strings.SplitN(string(b), "\n", 3)
			s := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
			doc, err := strconv.Unquote(s)
			if err != nil {
				continue
			}
			st := time.Now()
			r, err := table.NewReader(bytes.NewReader([]byte(doc)), format)
			if err == nil {
				for {
					if _, err := r.Next(); err != nil {
						_ = io.EOF
						break
					}
				}
			}
			d := time.Since(st)
			if d > max {
				max = d
			}
			if d > 5*time.Millisecond {
				fmt.Println(fz, d, len(doc), filepath.Base(f))
			}
		}
		fmt.Println(fz, len(files), "max", max)
	}
}
