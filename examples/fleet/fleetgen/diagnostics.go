package fleetgen

import "math"

// Duval triangle 1 zones (Duval, IEEE Electrical Insulation Magazine 2002;
// IEC 60599 Annex B). The triangle locates a reading by the relative shares of
// CH4, C2H4 and C2H2.
const (
	ZonePD   = "PD"   // partial discharges (corona)
	ZoneD1   = "D1"   // discharges of low energy (sparking)
	ZoneD2   = "D2"   // discharges of high energy (arcing)
	ZoneT1   = "T1"   // thermal fault below 300 °C
	ZoneT2   = "T2"   // thermal fault 300–700 °C
	ZoneT3   = "T3"   // thermal fault above 700 °C
	ZoneDT   = "DT"   // mixture of thermal and electrical faults
	ZoneNone = "none" // no CH4, C2H4 or C2H2 at all
)

// DuvalZone returns the Duval triangle 1 zone of a reading (gases in ppm).
func DuvalZone(ch4, c2h4, c2h2 float64) string {
	sum := ch4 + c2h4 + c2h2
	if sum <= 0 {
		return ZoneNone
	}
	pCH4, pC2H4, pC2H2 := 100*ch4/sum, 100*c2h4/sum, 100*c2h2/sum
	switch {
	case pCH4 >= 98:
		return ZonePD
	case pC2H2 < 4 && pC2H4 < 20:
		return ZoneT1
	case pC2H2 < 4 && pC2H4 < 50:
		return ZoneT2
	case pC2H2 < 15 && pC2H4 >= 50:
		return ZoneT3
	case pC2H2 >= 13 && pC2H4 < 23:
		return ZoneD1
	case pC2H2 >= 13 && (pC2H4 < 40 || pC2H2 >= 29):
		return ZoneD2
	default:
		return ZoneDT
	}
}

// IECRatioCode returns the fault type of IEC 60599 table 1 whose bands the
// ratios C2H2/C2H4, CH4/H2 and C2H4/C2H6 of a reading fall in, or "" when
// they match none (the standard then refers to the Duval triangle).
func IECRatioCode(h2, ch4, c2h2, c2h4, c2h6 float64) string {
	acetylene := ratio(c2h2, c2h4) // C2H2/C2H4
	methane := ratio(ch4, h2)      // CH4/H2
	ethylene := ratio(c2h4, c2h6)  // C2H4/C2H6
	switch {
	case methane < 0.1 && ethylene < 0.2:
		return ZonePD
	case acetylene >= 0.6 && acetylene <= 2.5 && methane >= 0.1 && methane <= 1 && ethylene > 2:
		return ZoneD2 // checked first: the D1 and D2 bands overlap, take the graver
	case acetylene > 1 && methane >= 0.1 && methane <= 0.5 && ethylene > 1:
		return ZoneD1
	case acetylene < 0.2 && methane > 1 && ethylene > 4:
		return ZoneT3
	case acetylene < 0.1 && methane > 1 && ethylene >= 1:
		return ZoneT2
	case methane > 1 && ethylene < 1:
		return ZoneT1
	default:
		return ""
	}
}

// ratio is a/b, +Inf for a positive a over zero and NaN (matching no band)
// when both are zero.
func ratio(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return math.NaN()
		}
		return math.Inf(1)
	}
	return a / b
}

// Diagnose interprets a reading the way IEC 60599 does: the ratio table
// first, the Duval triangle where the ratios match no fault type.
func Diagnose(r Row) string {
	if code := IECRatioCode(r.H2, r.CH4, r.C2H2, r.C2H4, r.C2H6); code != "" {
		return code
	}
	return DuvalZone(r.CH4, r.C2H4, r.C2H2)
}

// Typical concentrations (ppm) above which a gas counts as elevated: the
// IEEE C57.104 condition-1 limits, which sit inside the IEC 60599 ranges of
// 90 % typical values.
var keyGasLimit = struct{ h2, ch4, c2h2, c2h4, c2h6, co float64 }{
	h2: 100, ch4: 120, c2h2: 2, c2h4: 50, c2h6: 65, co: 350,
}

// faultWeight is the log-odds a diagnosed fault type adds once the gases are
// elevated: arcing and hot spots in oil lead to failure faster than corona or
// low-temperature overheating.
var faultWeight = map[string]float64{
	ZonePD: 0.3, ZoneT1: 0.2, ZoneT2: 1.2, ZoneT3: 2.0,
	ZoneD1: 1.6, ZoneD2: 2.6, ZoneDT: 1.8, ZoneNone: 0,
}

// keyGasExcess sums, over the combustible gases, how far (in natural-log
// units) each one is above its typical limit.
func keyGasExcess(r Row) float64 {
	over := func(v, limit float64) float64 {
		if v <= limit {
			return 0
		}
		return math.Log(v / limit)
	}
	l := keyGasLimit
	return over(r.H2, l.h2) + over(r.CH4, l.ch4) + over(r.C2H2, l.c2h2) +
		over(r.C2H4, l.c2h4) + over(r.C2H6, l.c2h6)
}

// riskLogit is the log-odds of a failure within the horizon implied by a
// reading's diagnostics: key-gas levels, the diagnosed fault type once gases
// are elevated, paper involvement (CO above its limit with CO2/CO < 3), age
// and overload.
func riskLogit(r Row) float64 {
	excess := keyGasExcess(r)
	logit := -3.7 + 0.7*math.Min(excess, 4)
	if excess > 0 {
		logit += faultWeight[Diagnose(r)] * math.Min(excess, 1)
	}
	if r.CO > keyGasLimit.co && r.CO2 < 3*r.CO {
		logit += 1.0
	}
	logit += 0.04 * (r.AgeYears - 25)
	logit += 0.04 * math.Max(0, r.LoadPct-85)
	return logit
}

// FaultProbability is the probability of a failure within the horizon that
// the diagnostics of a reading imply. The generated label adds unobserved
// factors on top of it, so no model can recover the label exactly.
func FaultProbability(r Row) float64 {
	return sigmoid(riskLogit(r))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
