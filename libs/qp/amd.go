package qp

import "math"

// Node states of the quotient graph used by amdOrder.
const (
	amdVariable = iota // not yet eliminated
	amdElement         // eliminated, represents the clique of its neighbours
	amdAbsorbed        // element merged into a newer element
	amdDense           // set aside, ordered last
)

// amdOrder returns a fill-reducing elimination order of the symmetric n×n
// matrix whose upper (or full) pattern is given in CSC form: perm[k] is the
// original index eliminated k-th.
//
// It is a minimum degree ordering on the quotient graph with the approximate
// external degree bound of Amestoy, Davis and Duff (AMD): eliminating a pivot
// p turns p into an element whose variables form a clique, absorbs the
// elements adjacent to p, and bounds the degree of every variable i of that
// clique by |A_i| + |L_p \ i| + Σ_e |L_e \ L_p|. Elements whose variables
// all lie in L_p are absorbed as well (aggressive absorption). Rows denser
// than max(16, 10√n) are removed beforehand and ordered last, as in AMD, so
// that a dense constraint row does not fill the factor. Supervariable
// detection is not done; it only affects speed, not the order's validity.
func amdOrder(n int, colPtr, rowIdx []int) []int {
	adj := symmetricAdjacency(n, colPtr, rowIdx)
	state := make([]int8, n)
	denseLimit := int(math.Max(16, 10*math.Sqrt(float64(n))))
	var dense []int
	for i := 0; i < n; i++ {
		if len(adj[i]) > denseLimit {
			state[i] = amdDense
			dense = append(dense, i)
		}
	}
	vars := make([][]int, n)
	elems := make([][]int, n)
	members := make([][]int, n) // variables of each live element
	deg := make([]int, n)
	buckets := newDegreeBuckets(n)
	live := 0
	for i := 0; i < n; i++ {
		if state[i] == amdDense {
			continue
		}
		for _, j := range adj[i] {
			if state[j] != amdDense {
				vars[i] = append(vars[i], j)
			}
		}
		deg[i] = len(vars[i])
		buckets.insert(i, deg[i])
		live++
	}

	perm := make([]int, 0, n)
	mark := make([]int, n)  // mark[v] == stamp: v is in the current L_p
	wmark := make([]int, n) // wmark[e] == stamp: w[e] holds |L_e \ L_p|
	w := make([]int, n)
	stamp := 0
	var lp []int
	for live > 0 {
		p := buckets.popMin()
		perm = append(perm, p)
		live--
		stamp++
		mark[p] = stamp
		state[p] = amdElement

		// L_p: variables adjacent to p directly or through its elements.
		lp = lp[:0]
		for _, v := range vars[p] {
			if state[v] == amdVariable && mark[v] != stamp {
				mark[v] = stamp
				lp = append(lp, v)
			}
		}
		for _, e := range elems[p] {
			if state[e] != amdElement {
				continue
			}
			for _, v := range members[e] {
				if state[v] == amdVariable && mark[v] != stamp {
					mark[v] = stamp
					lp = append(lp, v)
				}
			}
			state[e] = amdAbsorbed
			members[e] = nil
		}
		members[p] = append([]int(nil), lp...)
		vars[p], elems[p] = nil, nil

		// w[e] = |L_e \ L_p| for the other elements touching L_p.
		for _, i := range lp {
			buckets.remove(i, deg[i])
			for _, e := range elems[i] {
				if state[e] != amdElement || e == p {
					continue
				}
				if wmark[e] != stamp {
					wmark[e] = stamp
					w[e] = len(members[e])
				}
				w[e]--
			}
		}

		// Prune the lists of every i in L_p and bound its degree.
		for _, i := range lp {
			ext := 0
			kept := elems[i][:0]
			for _, e := range elems[i] {
				if state[e] != amdElement || e == p {
					continue
				}
				if w[e] == 0 {
					state[e] = amdAbsorbed // L_e ⊆ L_p
					members[e] = nil
					continue
				}
				ext += w[e]
				kept = append(kept, e)
			}
			elems[i] = append(kept, p)
			keptVars := vars[i][:0]
			for _, v := range vars[i] {
				if state[v] == amdVariable && mark[v] != stamp {
					keptVars = append(keptVars, v)
				}
			}
			vars[i] = keptVars
			d := len(keptVars) + len(lp) - 1 + ext
			d = min(d, deg[i]+len(lp)-1, live-1)
			deg[i] = max(d, 0)
			buckets.insert(i, deg[i])
		}
	}
	return append(perm, dense...)
}

// symmetricAdjacency returns, for every node, its neighbours in the
// symmetric pattern (both triangles, no diagonal, no duplicates).
func symmetricAdjacency(n int, colPtr, rowIdx []int) [][]int {
	count := make([]int, n)
	for j := 0; j < n; j++ {
		for p := colPtr[j]; p < colPtr[j+1]; p++ {
			if i := rowIdx[p]; i != j {
				count[i]++
				count[j]++
			}
		}
	}
	adj := make([][]int, n)
	for i := range adj {
		adj[i] = make([]int, 0, count[i])
	}
	seen := make([]int, n)
	for i := range seen {
		seen[i] = -1
	}
	for j := 0; j < n; j++ {
		for p := colPtr[j]; p < colPtr[j+1]; p++ {
			if i := rowIdx[p]; i != j {
				adj[i] = append(adj[i], j)
				adj[j] = append(adj[j], i)
			}
		}
	}
	for i := range adj {
		out := adj[i][:0]
		for _, j := range adj[i] {
			if seen[j] != i {
				seen[j] = i
				out = append(out, j)
			}
		}
		adj[i] = out
	}
	return adj
}

// degreeBuckets keeps nodes in doubly linked lists by degree, so that a node
// of minimum degree is found in amortised constant time.
type degreeBuckets struct {
	head, next, prev []int
	minDeg           int
}

func newDegreeBuckets(n int) *degreeBuckets {
	b := &degreeBuckets{head: make([]int, n+1), next: make([]int, n), prev: make([]int, n)}
	for i := range b.head {
		b.head[i] = -1
	}
	return b
}

func (b *degreeBuckets) insert(i, d int) {
	b.prev[i] = -1
	b.next[i] = b.head[d]
	if b.head[d] >= 0 {
		b.prev[b.head[d]] = i
	}
	b.head[d] = i
	b.minDeg = min(b.minDeg, d)
}

func (b *degreeBuckets) remove(i, d int) {
	if b.prev[i] >= 0 {
		b.next[b.prev[i]] = b.next[i]
	} else {
		b.head[d] = b.next[i]
	}
	if b.next[i] >= 0 {
		b.prev[b.next[i]] = b.prev[i]
	}
}

// popMin removes and returns a node of minimum degree; the caller knows that
// at least one node is present.
func (b *degreeBuckets) popMin() int {
	for b.head[b.minDeg] < 0 {
		b.minDeg++
	}
	i := b.head[b.minDeg]
	b.remove(i, b.minDeg)
	return i
}
