package artifacts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidKey reports a key or prefix that is not a clean relative slash
// path. Both backends refuse the same keys, so a key that works in the
// all-in-one folder works on S3 and the other way round.
var ErrInvalidKey = errors.New("artifacts: invalid key")

const (
	maxKeyLen     = 1024 // S3's limit on object names
	maxSegmentLen = 255  // NAME_MAX on common filesystems
	// tempPrefix starts the names of the local backend's in-flight files;
	// keys may not use it, so a temp file is never mistaken for an object.
	tempPrefix = ".artifacts-tmp-"
)

// validateKey reports whether key is acceptable to every backend: a
// non-empty, relative, UTF-8 slash path of at most 1024 bytes whose segments
// are non-empty, not "." or "..", at most 255 bytes, and free of NUL and
// backslash. The returned error wraps ErrInvalidKey.
func validateKey(key string) error {
	if key == "" {
		return invalidKey("empty key")
	}
	if err := checkChars(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

// validatePrefix accepts "" (everything), a key, or a key followed by "/" or
// by the beginning of a name: only the complete segments are checked as key
// segments.
func validatePrefix(prefix string) error {
	if err := checkChars(prefix); err != nil {
		return err
	}
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return nil
	}
	for seg := range strings.SplitSeq(prefix[:i], "/") {
		if err := checkSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

func checkChars(s string) error {
	switch {
	case len(s) > maxKeyLen:
		return invalidKey(fmt.Sprintf("longer than %d bytes", maxKeyLen))
	case !utf8.ValidString(s):
		return invalidKey("not valid UTF-8")
	case strings.ContainsAny(s, "\x00\\"):
		return invalidKey("contains NUL or backslash")
	}
	return nil
}

func checkSegment(seg string) error {
	switch {
	case seg == "":
		return invalidKey("empty segment (leading, trailing or double slash)")
	case seg == "." || seg == "..":
		return invalidKey(fmt.Sprintf("segment %q", seg))
	case len(seg) > maxSegmentLen:
		return invalidKey(fmt.Sprintf("segment longer than %d bytes", maxSegmentLen))
	case strings.HasPrefix(seg, tempPrefix):
		return invalidKey(fmt.Sprintf("segment starts with reserved %q", tempPrefix))
	}
	return nil
}

func invalidKey(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidKey, reason)
}
