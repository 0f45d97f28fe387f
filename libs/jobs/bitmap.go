package jobs

import "math/bits"

// Bitmap is a set of part numbers.
type Bitmap []byte

// Set adds i and reports whether it was absent.
func (b *Bitmap) Set(i int) bool {
	for len(*b) <= i/8 {
		*b = append(*b, 0)
	}
	mask := byte(1) << (i % 8)
	if (*b)[i/8]&mask != 0 {
		return false
	}
	(*b)[i/8] |= mask
	return true
}

// Has reports whether i is in the set.
func (b Bitmap) Has(i int) bool {
	return i/8 < len(b) && b[i/8]&(byte(1)<<(i%8)) != 0
}

// Count is how many numbers are in the set.
func (b Bitmap) Count() int {
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}

// Without is the set of b's numbers that are not in o.
func (b Bitmap) Without(o Bitmap) Bitmap {
	var out Bitmap
	for i := range len(b) * 8 {
		if b.Has(i) && !o.Has(i) {
			out.Set(i)
		}
	}
	return out
}
