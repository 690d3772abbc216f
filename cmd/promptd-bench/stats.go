package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted by the nearest-rank method:
// the smallest value such that at least p % of the values are less than or equal to it. It
// returns 0 for an empty slice. sorted must be in ascending order.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[max(rank, 1)-1]
}

// rateIn returns how many of the instants in sorted (ascending offsets from a common
// origin) fall in [from, to), per second. It returns 0 for an empty or inverted window.
func rateIn(sorted []time.Duration, from, to time.Duration) float64 {
	if to <= from {
		return 0
	}
	lo, _ := slices.BinarySearch(sorted, from)
	hi, _ := slices.BinarySearch(sorted, to)
	return float64(hi-lo) / (to - from).Seconds()
}

// bodyRate returns the rate of the middle of a burst of instants (sorted ascending): the
// number of instants between the loFrac and hiFrac quantiles divided by the time between
// them. It leaves out the start (connections opening, the first claims) and the tail (the
// last stragglers) of a drain, so that the figure is the steady rate. It returns 0 when
// there are too few instants to tell.
func bodyRate(sorted []time.Duration, loFrac, hiFrac float64) float64 {
	n := len(sorted)
	if n < 10 || loFrac < 0 || hiFrac > 1 || hiFrac <= loFrac {
		return 0
	}
	i := int(loFrac * float64(n))
	j := min(int(math.Ceil(hiFrac*float64(n)))-1, n-1)
	span := sorted[j] - sorted[i]
	if j <= i || span <= 0 {
		return 0
	}
	return float64(j-i) / span.Seconds()
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
