//go:build unix

package artifacts

import (
	"io/fs"
	"strconv"
	"syscall"
)

// fileETag identifies one version of a local object. Every Put writes a new
// file (a new inode) while the old one still exists, so the inode tells two
// writes apart even within the file system's timestamp granularity.
func fileETag(fi fs.FileInfo) string {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return strconv.FormatUint(ino, 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16) + "-" + strconv.FormatInt(fi.Size(), 16)
}
