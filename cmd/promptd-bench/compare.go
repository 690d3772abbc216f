package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// Side-by-side comparison of promptd binaries (-compare).
//
// A change is judged against the binary before it on the same machine in the same hour:
// these machines are shared, and the bare sender alone moves by a third from one hour to the
// next. -compare runs each scenario with every binary in turn, -runs times (A B A B …), so
// that a neighbour's load falls on both alike, and prints each binary's medians beside the
// others with the change from the first.

// binary is one promptd binary of a comparison.
type binary struct {
	label string
	path  string
}

// parseCompare parses -compare: binaries separated by commas, each "label=path" or a path
// (labelled by its file name). Every one must be an executable file; labels must differ.
func parseCompare(s string) ([]binary, error) {
	var out []binary
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("-compare: an empty entry in %q", s)
		}
		label, path, ok := strings.Cut(part, "=")
		if !ok {
			label, path = filepath.Base(part), part
		}
		if label == "" || path == "" {
			return nil, fmt.Errorf("-compare: %q: want label=path or a path", part)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("-compare: %w", err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("-compare: %s is not an executable file", path)
		}
		if slices.ContainsFunc(out, func(b binary) bool { return b.label == label }) {
			return nil, fmt.Errorf("-compare: the label %q is given twice", label)
		}
		out = append(out, binary{label: label, path: path})
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("-compare: want at least two binaries, got %d", len(out))
	}
	return out, nil
}

// figure is one row of a comparison: how to read it from a run (ok false: not measured),
// and whether the runs' total is shown (counts of what went wrong) rather than the median.
type figure struct {
	name     string
	decimals int
	value    func(r *Result) (float64, bool)
	total    bool
}

func some(v *float64) (float64, bool) {
	if v == nil {
		return 0, false
	}
	return *v, true
}

func perDelivery(seconds *float64, r *Result) (float64, bool) {
	if seconds == nil || r.Delivered == 0 {
		return 0, false
	}
	return *seconds * 1000 / float64(r.Delivered), true
}

// figures are the rows of a comparison, in order; a row no run has is left out.
var figures = []figure{
	{"deliveries/s", 0, func(r *Result) (float64, bool) { return r.DeliveriesPerSec, true }, false},
	{"bare sender/s", 0, func(r *Result) (float64, bool) { return some(r.BaselinePerSec) }, false},
	{"ratio to the bare sender", 3, func(r *Result) (float64, bool) { return some(r.Ratio) }, false},
	{"whole-system CPU ms per delivery", 3, func(r *Result) (float64, bool) { return some(r.SystemCPUMsPerDelivery) }, false},
	{"promptd CPU ms per delivery", 3, func(r *Result) (float64, bool) { return r.CPUMsPerDelivery, r.Delivered > 0 }, false},
	{"PostgreSQL CPU ms per delivery", 3, func(r *Result) (float64, bool) { return perDelivery(r.PGCPUSeconds, r) }, false},
	{"reference deliveries/s", 0, func(r *Result) (float64, bool) { return some(r.ReferencePerSec) }, false},
	{"reference whole-system CPU ms per delivery", 3, func(r *Result) (float64, bool) { return some(r.ReferenceSystemCPUMsPerDelivery) }, false},
	{"ratio to the reference", 3, func(r *Result) (float64, bool) { return some(r.ReferenceRatio) }, false},
	{"handed over at publish %", 1, func(r *Result) (float64, bool) {
		if r.HandedOver == nil || r.Delivered == 0 {
			return 0, false
		}
		return float64(*r.HandedOver) * 100 / float64(r.Delivered), true
	}, false},
	{"results committed within 100 ms %", 1, func(r *Result) (float64, bool) { return some(r.RecordWithin100msPct) }, false},
	{"result committed after p50 ms", 1, func(r *Result) (float64, bool) { return some(r.RecordP50ms) }, false},
	{"result committed after p99 ms", 1, func(r *Result) (float64, bool) { return some(r.RecordP99ms) }, false},
	{"p50 ms", 2, func(r *Result) (float64, bool) { return some(r.P50ms) }, false},
	{"p99 ms", 2, func(r *Result) (float64, bool) { return some(r.P99ms) }, false},
	{"missing (all runs)", 0, func(r *Result) (float64, bool) { return float64(r.Missing), true }, true},
	{"duplicates (all runs)", 0, func(r *Result) (float64, bool) { return float64(r.Duplicates), true }, true},
}

// writeComparison prints, for one scenario, every binary's median of each figure over its
// runs (each run in parentheses, in order) and the change of each later binary's median
// from the first's; of the losses (missing, duplicates), the total.
func writeComparison(w io.Writer, scenario string, bins []binary, runs map[string][]*Result) {
	fmt.Fprintf(w, "\n%s: medians of each binary's runs (each run), alternating %s\n\n", scenario, labels(bins))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"figure"}
	for i, b := range bins {
		header = append(header, b.label)
		if i > 0 {
			header = append(header, "change")
		}
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, f := range figures {
		row := []string{f.name}
		var first float64
		measured := false
		for i, b := range bins {
			var vals []float64
			for _, r := range runs[b.label] {
				if v, ok := f.value(r); ok {
					vals = append(vals, v)
				}
			}
			cell, change := "-", ""
			switch {
			case len(vals) > 0 && f.total:
				measured = true
				var sum float64
				for _, v := range vals {
					sum += v
				}
				cell = fmt.Sprintf("%.*f (%s)", f.decimals, sum, joinFloats(vals, f.decimals))
			case len(vals) > 0:
				measured = true
				m := medianOf(vals)
				cell = fmt.Sprintf("%.*f (%s)", f.decimals, m, joinFloats(vals, f.decimals))
				switch {
				case i == 0:
					first = m
				case first != 0:
					change = fmt.Sprintf("%+.0f %%", (m-first)*100/first)
				}
			}
			row = append(row, cell)
			if i > 0 {
				row = append(row, change)
			}
		}
		if measured {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
	}
	tw.Flush()
}

// medianOf returns the median of vs (the mean of the middle two for an even count).
func medianOf(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func joinFloats(vs []float64, decimals int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%.*f", decimals, v)
	}
	return strings.Join(parts, " · ")
}

func labels(bins []binary) string {
	out := make([]string, len(bins))
	for i, b := range bins {
		out[i] = b.label + " (" + b.path + ")"
	}
	return strings.Join(out, ", ")
}
