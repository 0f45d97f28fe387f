package maros

import "math"

// The problems. Sizes and optima are those of the listing (see the package
// comment); comments give the definition each generator implements, with
// the indices of the SIF files (1-based unless said otherwise).
var generators = []generator{
	{name: "HS21", build: hs21},
	{name: "HS35", build: hs35},
	{name: "HS35MOD", build: hs35mod},
	{name: "HS51", build: hs51},
	{name: "HS52", build: func() (*model, Size, float64) { return hs52(false) }},
	{name: "HS53", build: func() (*model, Size, float64) { return hs52(true) }},
	{name: "HS76", build: hs76},
	{name: "HS118", build: hs118},
	{name: "HS268", build: hs268},
	{name: "GENHS28", build: genhs28},
	{name: "TAME", build: tame},
	{name: "ZECEVIC2", build: zecevic2},
	{name: "LOTSCHD", build: lotschd, note: lotschdNote},
	{name: "KSIP", build: ksip, note: "the listing has 18411 entries in A: coefficients t^(j-1) that the QPS file rounds to zero are kept here"},
	{name: "GOULDQP2", build: func() (*model, Size, float64) { return gouldqp(false) }},
	{name: "GOULDQP3", build: func() (*model, Size, float64) { return gouldqp(true) }, departs: gould3Departs, reference: 2.027592497},
	{name: "CVXQP1_S", build: func() (*model, Size, float64) { return cvxqp(1, 100) }},
	{name: "CVXQP2_S", build: func() (*model, Size, float64) { return cvxqp(2, 100) }},
	{name: "CVXQP3_S", build: func() (*model, Size, float64) { return cvxqp(3, 100) }},
	{name: "CVXQP1_M", build: func() (*model, Size, float64) { return cvxqp(1, 1000) }},
	{name: "CVXQP2_M", build: func() (*model, Size, float64) { return cvxqp(2, 1000) }},
	{name: "CVXQP3_M", build: func() (*model, Size, float64) { return cvxqp(3, 1000) }},
	{name: "CVXQP1_L", build: func() (*model, Size, float64) { return cvxqp(1, 10000) }, heavy: true, note: cvxqpLNote},
	{name: "CVXQP2_L", build: func() (*model, Size, float64) { return cvxqp(2, 10000) }, heavy: true, note: cvxqpLNote},
	{name: "CVXQP3_L", build: func() (*model, Size, float64) { return cvxqp(3, 10000) }, heavy: true, note: cvxqpLNote},
	{name: "YAO", build: yao},
	{name: "STCQP1", build: func() (*model, Size, float64) { return stcqp(1) }},
	{name: "STCQP2", build: func() (*model, Size, float64) { return stcqp(2) }},
	{name: "AUG3D", build: func() (*model, Size, float64) { return aug3d(false, false) }},
	{name: "AUG3DC", build: func() (*model, Size, float64) { return aug3d(true, false) }},
	{name: "AUG3DQP", build: func() (*model, Size, float64) { return aug3d(false, true) }},
	{name: "AUG3DCQP", build: func() (*model, Size, float64) { return aug3d(true, true) }},
	{name: "DTOC3", build: dtoc3},
	{name: "HUES-MOD", build: func() (*model, Size, float64) { return huestis(true) }, note: huesNote},
	{name: "HUESTIS", build: func() (*model, Size, float64) { return huestis(false) }, note: huesNote},
	{name: "POWELL20", build: powell20},
	{name: "UBH1", build: ubh1},
	{name: "AUG2D", build: func() (*model, Size, float64) { return aug2d(false, false) }},
	{name: "AUG2DC", build: func() (*model, Size, float64) { return aug2d(true, false) }},
	{name: "AUG2DQP", build: func() (*model, Size, float64) { return aug2d(false, true) }},
	{name: "AUG2DCQP", build: func() (*model, Size, float64) { return aug2d(true, true) }, note: "only the X(i,NY) ≥ 1 face bounds: the Y(NX,j) ones of the SIF file belong to another bound set"},
	{name: "LISWET1", build: liswet(1)},
	{name: "LISWET2", build: liswet(2)},
	{name: "LISWET3", build: liswet(3)},
	{name: "LISWET4", build: liswet(4)},
	{name: "LISWET5", build: liswet(5), departs: liswetDeparts, reference: 24.99981939},
	{name: "LISWET6", build: liswet(6), departs: liswetDeparts, reference: 24.99986908},
	{name: "LISWET7", build: liswet(7)},
	{name: "LISWET8", build: liswet(8), departs: liswet8Departs, reference: 7.1447006e+02},
	{name: "LISWET9", build: liswet(9)},
	{name: "LISWET10", build: liswet(10)},
	{name: "LISWET11", build: liswet(11)},
	{name: "LISWET12", build: liswet(12)},
}

// Problems whose optimum is not the listing's.
const (
	gould3Departs = "the SIF file at hand (its header notes a revision of June 1998) gives 2.0275925 (CVXOPT: 2.027592497), " +
		"1.7% below the listing's 2.0627840, while GOULDQP2 of the same file family matches; the set's instance differs"
	liswetDeparts = "the SIF definition gives a different optimum (CVXOPT agrees with this solver to 1e-7): LISWET5 is 0.14% and LISWET6 0.016% " +
		"from the listing, while the other LISWET problems match within 1e-4 (LISWET8 after its erratum); the set's instance differs"
	liswet8Departs = "the listing's 7.1447006e+03 has its exponent off by one: the optimum is 7.1447006e+02, which this solver matches within 1e-5 " +
		"(CVXOPT stops at 714.53 without converging)"
)

const cvxqpLNote = "the LDLᵀ factor of the KKT matrix needs 3–6 GFlop per factorisation (the P and A patterns are expander-like, so any ordering fills in)"

// hs21 is Hock–Schittkowski 21: min 0.01x1² + x2² − 100, 10x1 − x2 ≥ 10,
// 2 ≤ x1 ≤ 50, −50 ≤ x2 ≤ 50.
func hs21() (*model, Size, float64) {
	m := newModel(2)
	m.quad(0, 0, 0.01)
	m.quad(1, 1, 1)
	m.c = -100
	m.addRow([]int{0, 1}, []float64{10, -1}, 10, inf)
	m.bound(0, 2, 50)
	m.bound(1, -50, 50)
	return m, Size{1, 2, 2, 2, 0}, -9.9960000e+01
}

// hs35 is HS35: 9 − 8x1 − 6x2 − 4x3 + 2x1² + 2x2² + x3² + 2x1x2 + 2x1x3,
// x1 + x2 + 2x3 ≤ 3, x ≥ 0.
func hs35() (*model, Size, float64) {
	m := hs35base()
	m.nonNegative()
	return m, Size{1, 3, 3, 3, 2}, 1.1111111e-01
}

// hs35mod is HS35 with x2 fixed at 0.5.
func hs35mod() (*model, Size, float64) {
	m := hs35base()
	m.nonNegative()
	m.bound(1, 0.5, 0.5)
	return m, Size{1, 3, 3, 3, 2}, 2.5000000e-01
}

func hs35base() *model {
	m := newModel(3)
	m.c = 9
	m.q[0], m.q[1], m.q[2] = -8, -6, -4
	m.quad(0, 0, 2)
	m.quad(1, 1, 2)
	m.quad(2, 2, 1)
	m.quad(0, 1, 2)
	m.quad(0, 2, 2)
	m.addRow([]int{0, 1, 2}, []float64{1, 1, 2}, -inf, 3)
	return m
}

// hs51 is HS51: (x1−x2)² + (x2+x3−2)² + (x4−1)² + (x5−1)², x1 + 3x2 = 4,
// x3 + x4 − 2x5 = 0, x2 − x5 = 0.
func hs51() (*model, Size, float64) {
	m := newModel(5)
	m.square(1, []int{0, 1}, []float64{1, -1}, 0)
	m.square(1, []int{1, 2}, []float64{1, 1}, 2)
	m.square(1, []int{3}, []float64{1}, 1)
	m.square(1, []int{4}, []float64{1}, 1)
	m.addRow([]int{0, 1}, []float64{1, 3}, 4, 4)
	m.addRow([]int{2, 3, 4}, []float64{1, 1, -2}, 0, 0)
	m.addRow([]int{1, 4}, []float64{1, -1}, 0, 0)
	return m, Size{3, 5, 7, 5, 2}, 8.8817842e-16
}

// hs52 is HS52: (4x1−x2)² + (x2+x3−2)² + (x4−1)² + (x5−1)², x1 + 3x2 = 0,
// x3 + x4 − 2x5 = 0, x2 − x5 = 0; or HS53 (bounded): the first square is
// (x1−x2)² and −10 ≤ x ≤ 10.
func hs52(bounded bool) (*model, Size, float64) {
	m := newModel(5)
	if bounded {
		m.square(1, []int{0, 1}, []float64{1, -1}, 0)
	} else {
		m.square(1, []int{0, 1}, []float64{4, -1}, 0)
	}
	m.square(1, []int{1, 2}, []float64{1, 1}, 2)
	m.square(1, []int{3}, []float64{1}, 1)
	m.square(1, []int{4}, []float64{1}, 1)
	m.addRow([]int{0, 1}, []float64{1, 3}, 0, 0)
	m.addRow([]int{2, 3, 4}, []float64{1, 1, -2}, 0, 0)
	m.addRow([]int{1, 4}, []float64{1, -1}, 0, 0)
	if !bounded {
		return m, Size{3, 5, 7, 5, 2}, 5.3266476e+00
	}
	for j := 0; j < 5; j++ {
		m.bound(j, -10, 10)
	}
	return m, Size{3, 5, 7, 5, 2}, 4.0930233e+00
}

// hs76 is HS76: x1² + ½x2² + x3² + ½x4² − x1x3 + x3x4 − x1 − 3x2 + x3 − x4,
// x1 + 2x2 + x3 + x4 ≤ 5, 3x1 + x2 + 2x3 − x4 ≤ 4, x2 + 4x3 ≥ 1.5, x ≥ 0.
func hs76() (*model, Size, float64) {
	m := newModel(4)
	m.quad(0, 0, 1)
	m.quad(1, 1, 0.5)
	m.quad(2, 2, 1)
	m.quad(3, 3, 0.5)
	m.quad(0, 2, -1)
	m.quad(2, 3, 1)
	m.q[0], m.q[1], m.q[2], m.q[3] = -1, -3, 1, -1
	m.addRow([]int{0, 1, 2, 3}, []float64{1, 2, 1, 1}, -inf, 5)
	m.addRow([]int{0, 1, 2, 3}, []float64{3, 1, 2, -1}, -inf, 4)
	m.addRow([]int{1, 2}, []float64{1, 4}, 1.5, inf)
	m.nonNegative()
	return m, Size{3, 4, 10, 4, 2}, -4.6818182e+00
}

// hs118 is Hock–Schittkowski 118: 15 variables (five periods of three
// units), separable quadratic costs, ramping limits between periods and a
// demand per period.
func hs118() (*model, Size, float64) {
	m := newModel(15)
	for k := 0; k < 5; k++ {
		m.quad(3*k, 3*k, 1e-4)
		m.quad(3*k+1, 3*k+1, 1e-4)
		m.quad(3*k+2, 3*k+2, 1.5e-4)
		m.q[3*k], m.q[3*k+1], m.q[3*k+2] = 2.3, 1.7, 2.2
		m.bound(3*k, 0, 90)
		m.bound(3*k+1, 0, 120)
		m.bound(3*k+2, 0, 60)
	}
	m.bound(0, 8, 21)
	m.bound(1, 43, 57)
	m.bound(2, 3, 16)
	// −7 ≤ x(3j+c) − x(3j−3+c) ≤ 6, 7, 6 for the three units.
	upper := []float64{6, 7, 6}
	for j := 1; j <= 4; j++ {
		for c := 0; c < 3; c++ {
			m.addRow([]int{3*j + c, 3*(j-1) + c}, []float64{1, -1}, -7, upper[c])
		}
	}
	for k, demand := range []float64{60, 50, 70, 85, 100} {
		m.addRow([]int{3 * k, 3*k + 1, 3*k + 2}, []float64{1, 1, 1}, demand, inf)
	}
	return m, Size{17, 15, 39, 15, 0}, 6.6482045e+02
}

// hs268 is HS268: xᵀDx − 2bᵀx + 14463 for the 5×5 matrix D and vector b
// of the SIF file, with five ≥ rows; x free.
func hs268() (*model, Size, float64) {
	d := [5][5]float64{
		{10197, -12454, -1013, 1948, 329},
		{-12454, 20909, -1733, -4914, -186},
		{-1013, -1733, 1755, 1089, -174},
		{1948, -4914, 1089, 1515, -22},
		{329, -186, -174, -22, 27},
	}
	b := [5]float64{-9170, 17099, -2271, -4336, -43}
	m := newModel(5)
	for i := 0; i < 5; i++ {
		m.p[[2]int{i, i}] += 2 * d[i][i]
		for j := i + 1; j < 5; j++ {
			m.p[[2]int{i, j}] += d[i][j] + d[j][i]
		}
		m.q[i] = -2 * b[i]
	}
	m.c = 14463
	rows := [5][5]float64{
		{-1, -1, -1, -1, -1},
		{10, 10, -3, 5, 4},
		{-8, 1, -2, -5, 3},
		{8, -1, 2, 5, -3},
		{-4, -2, 3, -5, 1},
	}
	rhs := [5]float64{-5, 20, -40, 11, -30}
	for i, r := range rows {
		m.addRow([]int{0, 1, 2, 3, 4}, r[:], rhs[i], inf)
	}
	return m, Size{5, 5, 25, 5, 10}, 5.7310705e-07
}

// genhs28 is GENHS28 with N = 10: Σ_{i<N} (x_i + x_{i+1})², x_i + 2x_{i+1}
// + 3x_{i+2} = 1 for i ≤ N−2; x free.
func genhs28() (*model, Size, float64) {
	const n = 10
	m := newModel(n)
	for i := 0; i < n-1; i++ {
		m.square(1, []int{i, i + 1}, []float64{1, 1}, 0)
	}
	for i := 0; i < n-2; i++ {
		m.addRow([]int{i, i + 1, i + 2}, []float64{1, 2, 3}, 1, 1)
	}
	return m, Size{8, 10, 24, 10, 9}, 9.2717369e-01
}

// tame is TAME: (x − y)², x + y = 1, x, y ≥ 0.
func tame() (*model, Size, float64) {
	m := newModel(2)
	m.square(1, []int{0, 1}, []float64{1, -1}, 0)
	m.addRow([]int{0, 1}, []float64{1, 1}, 1, 1)
	m.nonNegative()
	return m, Size{1, 2, 2, 2, 1}, 0
}

// zecevic2 is ZECEVIC2: −2x1 − 3x2 + 2x2², x1 + x2 ≤ 2, x1 + 4x2 ≤ 4,
// 0 ≤ x ≤ 10.
func zecevic2() (*model, Size, float64) {
	m := newModel(2)
	m.q[0], m.q[1] = -2, -3
	m.quad(1, 1, 2)
	m.addRow([]int{0, 1}, []float64{1, 1}, -inf, 2)
	m.addRow([]int{0, 1}, []float64{1, 4}, -inf, 4)
	m.bound(0, 0, 10)
	m.bound(1, 0, 10)
	return m, Size{2, 2, 4, 1, 0}, -4.1250000e+00
}

const lotschdNote = "the SIF file lists T(i) and U(i) of CONS(i), i = 2..4, twice (a·T(i) − U(i), then −T(i) − U(i)); the entries are summed"

// lotschd is LOTSCHD: Σ (x_i T_i)² over six (T_i, U_i) ≥ 0 pairs with seven
// equality rows; see lotschdNote for the one ambiguity of the SIF file.
func lotschd() (*model, Size, float64) {
	x := []float64{1.502, 1.126, 0.815, 1.268, 1.502, 0.740}
	a := []float64{1.8, 3.2, 6.1, 3.2, 1.8, 7.4}
	c := []float64{11, 3, 20, 17, 9, 20, 126.1}
	m := newModel(12) // T(i) = 2(i−1), U(i) = 2(i−1)+1
	t := func(i int) int { return 2 * (i - 1) }
	u := func(i int) int { return 2*(i-1) + 1 }
	for i := 1; i <= 6; i++ {
		m.square(1, []int{t(i)}, []float64{x[i-1]}, 0)
	}
	rows := make([]map[int]float64, 8)
	for r := range rows {
		rows[r] = map[int]float64{}
	}
	add := func(r, j int, v float64) { rows[r][j] += v }
	for i := 1; i <= 6; i++ {
		add(7, t(i), 1)
		add(7, u(i), 1)
		add(i, t(i), a[i-1])
		add(i, u(i), -1)
	}
	minus := func(r int, is ...int) {
		for _, i := range is {
			add(r, t(i), -1)
			add(r, u(i), -1)
		}
	}
	for i := 2; i <= 4; i++ {
		minus(i, i)
	}
	minus(2, 3)
	minus(3, 1, 2, 4, 5, 6)
	minus(4, 1, 5, 6)
	minus(5, 1)
	minus(6, 1, 2, 3, 4, 5)
	for r := 1; r <= 7; r++ {
		var idx []int
		var val []float64
		for j := 0; j < 12; j++ {
			if v, ok := rows[r][j]; ok {
				idx, val = append(idx, j), append(val, v)
			}
		}
		m.addRow(idx, val, c[r-1], c[r-1])
	}
	m.nonNegative()
	return m, Size{7, 12, 54, 6, 0}, 2.3984159e+03
}

// ksip is KSIP with N = 20, M = 1000: Σ_j x_j/j + x_j²/(2j), subject to
// Σ_j t^(j−1) x_j ≥ sin t for t = (i−1)/M, i = 1..M+1; x free.
func ksip() (*model, Size, float64) {
	const n, mm = 20, 1000
	m := newModel(n)
	for j := 1; j <= n; j++ {
		m.q[j-1] = 1 / float64(j)
		m.quad(j-1, j-1, 1/(2*float64(j)))
	}
	idx := make([]int, n)
	for j := range idx {
		idx[j] = j
	}
	for i := 1; i <= mm+1; i++ {
		t := float64(i-1) / mm
		val := make([]float64, n)
		var ri []int
		var rv []float64
		for j := 1; j <= n; j++ {
			val[j-1] = math.Exp(math.Log(t) * float64(j-1)) // as the SIF file computes t^(j−1)
			if j == 1 {
				val[0] = 1
			}
			if val[j-1] != 0 {
				ri, rv = append(ri, j-1), append(rv, val[j-1])
			}
		}
		m.addRow(ri, rv, math.Sin(t), inf)
	}
	return m, Size{1001, 20, 18411, 20, 0}, 5.7579794e-01
}

// gouldqp is GOULDQP2 (GOULDQP3 when three) with K = 350 knots:
// a_i = 1 + 1.01^(i−1), a_i ≤ KNOT_i ≤ a_{i+1}, 0.4(a_{i+2}−a_i) ≤ SPACE_i ≤
// 0.6(a_{i+2}−a_i), SPACE_i = KNOT_{i+1} − KNOT_i, objective
// ½Σ (SPACE_{i+1} − SPACE_i)² (GOULDQP3 adds ½Σ (KNOT_{K−i} + SPACE_i −
// a_{K+1−i})²).
func gouldqp(three bool) (*model, Size, float64) {
	const k = 350
	a := make([]float64, k+3) // a[1..K+1]
	beta := 1.0
	for i := 1; i <= k+1; i++ {
		a[i] = 1 + beta
		beta *= 1.01
	}
	knot := func(i int) int { return i - 1 }      // i = 1..K
	space := func(i int) int { return k + i - 1 } // i = 1..K−1
	m := newModel(2*k - 1)
	for i := 1; i <= k-2; i++ {
		m.square(0.5, []int{space(i + 1), space(i)}, []float64{1, -1}, 0)
	}
	if three {
		for i := 1; i <= k-1; i++ {
			m.square(0.5, []int{knot(k - i), space(i)}, []float64{1, 1}, a[k+1-i])
		}
	}
	for i := 1; i <= k-1; i++ {
		m.addRow([]int{space(i), knot(i + 1), knot(i)}, []float64{1, -1, 1}, 0, 0)
	}
	for i := 1; i <= k; i++ {
		m.bound(knot(i), a[i], a[i+1])
	}
	for i := 1; i <= k-1; i++ {
		var dif float64
		if i+2 <= k+1 {
			dif = a[i+2] - a[i]
		}
		m.bound(space(i), 0.4*dif, 0.6*dif)
	}
	if three {
		return m, Size{349, 699, 1047, 698, 697}, 2.0627840e+00
	}
	return m, Size{349, 699, 1047, 349, 348}, 1.8427534e-04
}

// cvxqp is CVXQP1, 2 or 3 of the CUTE set (SIF input by N. Gould, 1995)
// with N variables (100, 1000, 10000 for the _S, _M, _L instances):
//
//	min Σᵢ ½·i·(x_i + x_{mod(2i−1,N)+1} + x_{mod(3i−1,N)+1})²
//	s.t. x_i + 2x_{mod(4i−1,N)+1} + 3x_{mod(5i−1,N)+1} = 6, i = 1..M
//	     0.1 ≤ x ≤ 10
//
// with M = N/2, N/4 and 3N/4 (repeated indices add up).
func cvxqp(kind, n int) (*model, Size, float64) {
	var rows int
	switch kind {
	case 1:
		rows = n / 2
	case 2:
		rows = n / 4
	default:
		rows = n / 4 * 3
	}
	idx := func(i, k int) int { return (k*i-1)%n + 1 }
	m := newModel(n)
	for i := 1; i <= n; i++ {
		m.square(0.5*float64(i), []int{i - 1, idx(i, 2) - 1, idx(i, 3) - 1}, []float64{1, 1, 1}, 0)
	}
	for i := 1; i <= rows; i++ {
		m.addRow([]int{i - 1, idx(i, 4) - 1, idx(i, 5) - 1}, []float64{1, 2, 3}, 6, 6)
	}
	for j := 0; j < n; j++ {
		m.bound(j, 0.1, 10)
	}
	type entry struct {
		size Size
		opt  float64
	}
	table := map[[2]int]entry{
		{1, 100}:   {Size{50, 100, 148, 100, 286}, 1.1590718e+04},
		{2, 100}:   {Size{25, 100, 74, 100, 286}, 8.1209405e+03},
		{3, 100}:   {Size{75, 100, 222, 100, 286}, 1.1943432e+04},
		{1, 1000}:  {Size{500, 1000, 1498, 1000, 2984}, 1.0875116e+06},
		{2, 1000}:  {Size{250, 1000, 749, 1000, 2984}, 8.2015543e+05},
		{3, 1000}:  {Size{750, 1000, 2247, 1000, 2984}, 1.3628287e+06},
		{1, 10000}: {Size{5000, 10000, 14998, 10000, 29984}, 1.0870480e+08},
		{2, 10000}: {Size{2500, 10000, 7499, 10000, 29984}, 8.1842458e+07},
		{3, 10000}: {Size{7500, 10000, 22497, 10000, 29984}, 1.1571110e+08},
	}
	e := table[[2]int{kind, n}]
	return m, e.size, e.opt
}

// yao is YAO with P = 2000, k = 2: ½Σ (x_i − sin(i/(P+k)))², x_i − 2x_{i+1}
// + x_{i+2} ≥ 0 for i ≤ P, x_1 ≥ 0.08, x_{P+1} = x_{P+2} = 0.
func yao() (*model, Size, float64) {
	const p, k = 2000, 2
	n := p + k
	m := newModel(n)
	for i := 1; i <= n; i++ {
		m.square(0.5, []int{i - 1}, []float64{1}, math.Sin(float64(i)/float64(n)))
	}
	for i := 1; i <= p; i++ {
		m.addRow([]int{i - 1, i, i + 1}, []float64{1, -2, 1}, 0, inf)
	}
	m.bound(0, 0.08, inf)
	m.bound(p, 0, 0)
	m.bound(p+1, 0, 0)
	return m, Size{2000, 2002, 6000, 2002, 0}, 1.9770426e+02
}

// stcqp is STCQP1 (kind 1) or STCQP2 (kind 2) with P = 12, N = 2^P:
// variables x_0..x_N in [−2, 2], objective Σ x_i² + Σ_{l=1}^{N/P}
// Σ_{i=1}^{P} (Σ_{j=1}^{i} x_{2^(j−1)+l})², and for odd l ≤ N/P and
// i = 1..P the equality Σ_{j=1}^{i} x_{2^(j−1)+l−1} = i (STCQP1) or
// Σ_{j=1}^{i} x_{(l−1)P+j} = i (STCQP2).
func stcqp(kind int) (*model, Size, float64) {
	const p = 12
	const n = 1 << p
	m := newModel(n + 1)
	for i := 0; i <= n; i++ {
		m.square(1, []int{i}, []float64{1}, 0)
	}
	for l := 1; l <= n/p; l++ {
		for i := 1; i <= p; i++ {
			var idx []int
			for j, k := 1, 1; j <= i; j, k = j+1, 2*k {
				idx = append(idx, k+l)
			}
			m.square(1, idx, ones(len(idx)), 0)
		}
	}
	for l := 1; l <= n/p; l += 2 {
		for i := 1; i <= p; i++ {
			var idx []int
			for j, k := 1, 1; j <= i; j, k = j+1, 2*k {
				if kind == 1 {
					idx = append(idx, k+l-1)
				} else {
					idx = append(idx, (l-1)*p+j)
				}
			}
			m.addRow(idx, ones(len(idx)), float64(i), float64(i))
		}
	}
	for j := 0; j <= n; j++ {
		m.bound(j, -2, 2)
	}
	if kind == 1 {
		return m, Size{2052, 4097, 13338, 4097, 22506}, 1.5514356e+05
	}
	return m, Size{2052, 4097, 13338, 4097, 22506}, 2.2327313e+04
}

// aug3d is AUG3D, AUG3DC, AUG3DQP or AUG3DCQP with NX = NY = NZ = 10: the
// expanded system of a 7-point discretisation of Laplace's equation,
// min ½Σ (v − 1)² over the interior flux variables (every variable for
// the C variants) subject to one equality = 1 per node; free variables,
// or (QP variants) v ≥ 0 with the face variables ≥ 1.
func aug3d(allSquares, bounded bool) (*model, Size, float64) {
	const nx, ny, nz = 10, 10, 10
	type v struct {
		dir     byte // 'X', 'Y', 'Z'
		i, j, k int
	}
	var vars []v
	interior := map[int]bool{} // in the objective of AUG3D, ≥ 1 in the QP variants when on a face
	face := map[int]bool{}
	addVar := func(x v, obj, onFace bool) {
		if obj {
			interior[len(vars)] = true
		}
		if onFace {
			face[len(vars)] = true
		}
		vars = append(vars, x)
	}
	for k := 1; k < nz; k++ {
		for j := 1; j < ny; j++ {
			for i := 1; i < nx; i++ {
				addVar(v{'X', i, j, k}, true, false)
				addVar(v{'Y', i, j, k}, true, false)
				addVar(v{'Z', i, j, k}, true, false)
			}
		}
	}
	for k := 1; k < nz; k++ {
		for j := 1; j < ny; j++ {
			addVar(v{'Y', nx, j, k}, true, true)
			addVar(v{'Z', nx, j, k}, true, true)
		}
	}
	for k := 1; k < nz; k++ {
		for i := 1; i < nx; i++ {
			addVar(v{'X', i, ny, k}, true, true)
			addVar(v{'Z', i, ny, k}, true, true)
		}
	}
	for j := 1; j < ny; j++ {
		for i := 1; i < nx; i++ {
			addVar(v{'X', i, j, nz}, true, true)
			addVar(v{'Y', i, j, nz}, true, true)
		}
	}
	boundaryStart := len(vars)
	for k := 1; k <= nz; k++ {
		for j := 1; j <= ny; j++ {
			addVar(v{'Y', 0, j, k}, false, false)
			addVar(v{'Z', 0, j, k}, false, false)
			addVar(v{'Y', nx + 1, j, k}, false, false)
			addVar(v{'Z', nx + 1, j, k}, false, false)
		}
	}
	for k := 1; k <= nz; k++ {
		for i := 1; i <= nx; i++ {
			addVar(v{'X', i, 0, k}, false, false)
			addVar(v{'Z', i, 0, k}, false, false)
			addVar(v{'X', i, ny + 1, k}, false, false)
			addVar(v{'Z', i, ny + 1, k}, false, false)
		}
	}
	for j := 1; j <= ny; j++ {
		for i := 1; i <= nx; i++ {
			addVar(v{'X', i, j, 0}, false, false)
			addVar(v{'Y', i, j, 0}, false, false)
			addVar(v{'X', i, j, nz + 1}, false, false)
			addVar(v{'Y', i, j, nz + 1}, false, false)
		}
	}
	node := func(i, j, k int) int { return (k-1)*nx*ny + (j-1)*nx + (i - 1) }
	cols := make([][]int, len(vars)) // nodes of each variable
	vals := make([][]float64, len(vars))
	for c, x := range vars {
		if c >= boundaryStart {
			i, j, k := min(max(x.i, 1), nx), min(max(x.j, 1), ny), min(max(x.k, 1), nz)
			cols[c], vals[c] = []int{node(i, j, k)}, []float64{1}
			continue
		}
		i2, j2, k2 := x.i, x.j, x.k
		switch x.dir {
		case 'X':
			i2++
		case 'Y':
			j2++
		default:
			k2++
		}
		cols[c], vals[c] = []int{node(x.i, x.j, x.k), node(i2, j2, k2)}, []float64{1, -1}
	}
	m := newModel(len(vars))
	rowIdx := make([][]int, nx*ny*nz)
	rowVal := make([][]float64, nx*ny*nz)
	for c := range vars {
		for t, r := range cols[c] {
			rowIdx[r] = append(rowIdx[r], c)
			rowVal[r] = append(rowVal[r], vals[c][t])
		}
		if allSquares || interior[c] {
			m.square(0.5, []int{c}, []float64{1}, 1)
		}
	}
	for r := range rowIdx {
		m.addRow(rowIdx[r], rowVal[r], 1, 1)
	}
	if bounded {
		m.nonNegative()
		for c := range face {
			m.bound(c, 1, inf)
		}
	}
	qn := 2673
	if allSquares {
		qn = 3873
	}
	size := Size{1000, 3873, 6546, qn, 0}
	switch {
	case !allSquares && !bounded:
		return m, size, 5.5406773e+02
	case allSquares && !bounded:
		return m, size, 7.7126244e+02
	case !allSquares:
		return m, size, 6.7523767e+02
	}
	return m, size, 9.9336215e+02
}

// aug2d is AUG2D, AUG2DC, AUG2DQP or AUG2DCQP with NX = NY = 100: the 2-D
// analogue of aug3d (a 5-point discretisation). In AUG2DQP the face
// variables X(i,NY) and Y(NX,j) are ≥ 1; the SIF file of AUG2DCQP names the
// bound set of its Y(NX,j) ≥ 1 lines AUG2DQP, so a SIF decoder (which takes
// the first bound set) leaves them at ≥ 0, and the set's optimum is that
// of X(i,NY) ≥ 1 alone (6498134.74 against 6498197.75 with both).
func aug2d(allSquares, bounded bool) (*model, Size, float64) {
	const nx, ny = 100, 100
	type v struct {
		dir  byte
		i, j int
	}
	var vars []v
	interior := map[int]bool{}
	face := map[int]bool{}
	addVar := func(x v, obj, onFace bool) {
		if obj {
			interior[len(vars)] = true
		}
		if onFace && (!allSquares || x.dir == 'X') {
			face[len(vars)] = true
		}
		vars = append(vars, x)
	}
	for j := 1; j < ny; j++ {
		for i := 1; i < nx; i++ {
			addVar(v{'X', i, j}, true, false)
			addVar(v{'Y', i, j}, true, false)
		}
	}
	for i := 1; i < nx; i++ {
		addVar(v{'X', i, ny}, true, true)
	}
	for j := 1; j < ny; j++ {
		addVar(v{'Y', nx, j}, true, true)
	}
	boundaryStart := len(vars)
	for i := 1; i <= nx; i++ {
		addVar(v{'X', i, 0}, false, false)
		addVar(v{'X', i, ny + 1}, false, false)
	}
	for j := 1; j <= ny; j++ {
		addVar(v{'Y', 0, j}, false, false)
		addVar(v{'Y', nx + 1, j}, false, false)
	}
	node := func(i, j int) int { return (j-1)*nx + (i - 1) }
	m := newModel(len(vars))
	rowIdx := make([][]int, nx*ny)
	rowVal := make([][]float64, nx*ny)
	add := func(r, c int, val float64) {
		rowIdx[r] = append(rowIdx[r], c)
		rowVal[r] = append(rowVal[r], val)
	}
	for c, x := range vars {
		switch {
		case c >= boundaryStart:
			add(node(min(max(x.i, 1), nx), min(max(x.j, 1), ny)), c, 1)
		case x.dir == 'X':
			add(node(x.i, x.j), c, 1)
			add(node(x.i+1, x.j), c, -1)
		default:
			add(node(x.i, x.j), c, 1)
			add(node(x.i, x.j+1), c, -1)
		}
		if allSquares || interior[c] {
			m.square(0.5, []int{c}, []float64{1}, 1)
		}
	}
	for r := range rowIdx {
		m.addRow(rowIdx[r], rowVal[r], 1, 1)
	}
	if bounded {
		m.nonNegative()
		for c := range face {
			m.bound(c, 1, inf)
		}
	}
	qn := 19800
	if allSquares {
		qn = 20200
	}
	size := Size{10000, 20200, 40000, qn, 0}
	switch {
	case !allSquares && !bounded:
		return m, size, 1.6874118e+06
	case allSquares && !bounded:
		return m, size, 1.8183681e+06
	case !allSquares:
		return m, size, 6.2370121e+06
	}
	return m, size, 6.4981348e+06
}

// dtoc3 is DTOC3 with N = 5000 time steps, s = 1/N: variables x_t
// (t < N) and y_{t,1}, y_{t,2} (t ≤ N), objective Σ_{t<N} (s/2)(2y_{t+1,1}²
// + y_{t+1,2}² + 6x_t²), dynamics y_{t+1,1} = y_{t,1} + s·y_{t,2} and
// y_{t+1,2} = y_{t,2} − s·y_{t,1} + s·x_t, y_{1,1} = 15, y_{1,2} = 5.
func dtoc3() (*model, Size, float64) {
	const n = 5000
	s := 1 / float64(n)
	x := func(t int) int { return t - 1 }                      // t = 1..N−1
	y := func(t, i int) int { return n - 1 + 2*(t-1) + i - 1 } // t = 1..N
	m := newModel(n - 1 + 2*n)
	for t := 1; t < n; t++ {
		m.quad(y(t+1, 1), y(t+1, 1), s)
		m.quad(y(t+1, 2), y(t+1, 2), s/2)
		m.quad(x(t), x(t), 3*s)
	}
	for t := 1; t < n; t++ {
		m.addRow([]int{y(t+1, 1), y(t, 1), y(t, 2)}, []float64{-1, 1, s}, 0, 0)
		m.addRow([]int{y(t+1, 2), y(t, 2), y(t, 1), x(t)}, []float64{-1, 1, -s, s}, 0, 0)
	}
	m.bound(y(1, 1), 15, 15)
	m.bound(y(1, 2), 5, 5)
	return m, Size{9998, 14999, 34993, 14997, 0}, 2.3526248e+02
}

const huesNote = "the listing has 19899 entries in A: coefficients of the second row below the QPS file's precision are kept here"

// huestis is HUESTIS (HUES-MOD when mod) with K = 10000: Σ m_i² (Σ m_i²/K),
// m ≥ 0, Σ c1_i m_i = 1835.2 and Σ c2_i m_i = 909.8 with
// c1_i = (i³ − (i−1)³)Δ³/3, c2_i = (i⁵ − (i−1)⁵)Δ⁵/5, Δ = 1/K.
func huestis(mod bool) (*model, Size, float64) {
	const k = 10000
	delta := 1.0 / k
	d3 := delta * delta * delta / 3
	d5 := delta * delta * delta * delta * delta / 5
	m := newModel(k)
	w := 1.0
	if mod {
		w = 1.0 / k
	}
	idx := make([]int, k)
	c1 := make([]float64, k)
	c2 := make([]float64, k)
	for i := 1; i <= k; i++ {
		ri, rm := float64(i), float64(i-1)
		idx[i-1] = i - 1
		c1[i-1] = (ri*ri*ri - rm*rm*rm) * d3
		c2[i-1] = (ri*ri*ri*ri*ri - rm*rm*rm*rm*rm) * d5
		m.quad(i-1, i-1, w)
	}
	m.addRow(idx, c1, 1835.2, 1835.2)
	m.addRow(idx, c2, 909.8, 909.8)
	m.nonNegative()
	if mod {
		return m, Size{2, 10000, 19899, 10000, 0}, 3.4824690e+07
	}
	return m, Size{2, 10000, 19899, 10000, 0}, 3.4824690e+11
}

// powell20 is POWELL20 with N = 10000: ½Σ x_k², x_{k+1} − x_k ≥ (−1)^k k −
// ½ for k < N, x_1 − x_N ≥ N − ½; x free.
func powell20() (*model, Size, float64) {
	const n = 10000
	m := newModel(n)
	for k := 0; k < n; k++ {
		m.quad(k, k, 0.5)
	}
	sign := 1.0
	for k := 1; k < n; k++ {
		sign = -sign
		m.addRow([]int{k, k - 1}, []float64{1, -1}, sign*float64(k)-0.5, inf)
	}
	m.addRow([]int{0, n - 1}, []float64{1, -1}, float64(n)-0.5, inf)
	return m, Size{10000, 10000, 20000, 10000, 0}, 5.2089583e+10
}

// ubh1 is UBH1 with N = 2000 steps of k = 1000/N: states y_{i,t}
// (i = 1..6) and controls u_{i,t} (i = 1..3), t = 0..N, trapezoidal
// dynamics y_{i,t} = y_{i,t−1} + (k/2)(y_{i+3,t−1} + y_{i+3,t}) and
// y_{i+3,t} = y_{i+3,t−1} + (k/2)(u_{i,t−1} + u_{i,t}), objective
// Σ_t Σ_i (k/2)(u_{i,t−1}² + u_{i,t}²), |u| ≤ 1, fixed initial and final
// states.
func ubh1() (*model, Size, float64) {
	const n = 2000
	k := 1000.0 / n
	y := func(i, t int) int { return (i-1)*(n+1) + t }
	u := func(i, t int) int { return 6*(n+1) + (i-1)*(n+1) + t }
	m := newModel(9 * (n + 1))
	for t := 1; t <= n; t++ {
		for i := 1; i <= 3; i++ {
			m.quad(u(i, t-1), u(i, t-1), k/2)
			m.quad(u(i, t), u(i, t), k/2)
		}
	}
	for i := 1; i <= 3; i++ {
		for t := 1; t <= n; t++ {
			m.addRow([]int{y(i, t), y(i, t-1), y(i+3, t-1), y(i+3, t)}, []float64{1, -1, -k / 2, -k / 2}, 0, 0)
		}
	}
	for i := 1; i <= 3; i++ {
		for t := 1; t <= n; t++ {
			m.addRow([]int{y(i+3, t), y(i+3, t-1), u(i, t-1), u(i, t)}, []float64{1, -1, -k / 2, -k / 2}, 0, 0)
		}
	}
	for i := 1; i <= 3; i++ {
		for t := 0; t <= n; t++ {
			m.bound(u(i, t), -1, 1)
		}
	}
	for i, v := range []float64{1000, 1000, 1000, -10, 10, -10} {
		m.bound(y(i+1, 0), v, v)
		m.bound(y(i+1, n), 0, 0)
	}
	return m, Size{12000, 18009, 48000, 6003, 0}, 1.1160008e+00
}

// liswet is LISWETk with N = 10000, K = 2 (Li and Swetits): ½Σ (x_i − c_i)²
// over N+K variables subject to the second differences x_j − 2x_{j+1} +
// x_{j+2} ≥ 0, with c_i = g(t_i) + 0.1 sin i, t_i = (i−1)/(N+K−1) and g the
// k-th of √t, t, t², t³, eᵗ, e⁻ᵗ, sin πt, sin 2πt, sin 4πt, cos πt, cos 2πt,
// cos 4πt.
func liswet(kind int) func() (*model, Size, float64) {
	published := []float64{3.6122402e+01, 2.4998076e+01, 2.5001220e+01, 2.5000112e+01, 2.5034253e+01,
		2.4995748e+01, 4.9884089e+02, 7.1447006e+03, 1.9632513e+03, 4.9485785e+01, 4.9523957e+01, 1.7369274e+03}
	g := []func(float64) float64{
		math.Sqrt,
		func(t float64) float64 { return t },
		func(t float64) float64 { return t * t },
		func(t float64) float64 { return t * t * t },
		math.Exp,
		func(t float64) float64 { return math.Exp(-t) },
		func(t float64) float64 { return math.Sin(math.Pi * t) },
		func(t float64) float64 { return math.Sin(2 * math.Pi * t) },
		func(t float64) float64 { return math.Sin(4 * math.Pi * t) },
		func(t float64) float64 { return math.Cos(math.Pi * t) },
		func(t float64) float64 { return math.Cos(2 * math.Pi * t) },
		func(t float64) float64 { return math.Cos(4 * math.Pi * t) },
	}[kind-1]
	return func() (*model, Size, float64) {
		const n, k = 10000, 2
		m := newModel(n + k)
		for i := 1; i <= n+k; i++ {
			t := float64(i-1) / float64(n+k-1)
			m.square(0.5, []int{i - 1}, []float64{1}, g(t)+0.1*math.Sin(float64(i)))
		}
		for j := 1; j <= n; j++ {
			m.addRow([]int{j + 1, j, j - 1}, []float64{1, -2, 1}, 0, inf)
		}
		return m, Size{10000, 10002, 30000, 10002, 0}, published[kind-1]
	}
}
