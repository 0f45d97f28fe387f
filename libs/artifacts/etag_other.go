//go:build !unix

package artifacts

import (
	"io/fs"
	"strconv"
)

// fileETag identifies one version of a local object by time and size.
func fileETag(fi fs.FileInfo) string {
	return strconv.FormatInt(fi.ModTime().UnixNano(), 16) + "-" + strconv.FormatInt(fi.Size(), 16)
}
