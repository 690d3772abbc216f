package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCompare(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old, cur := exe("promptd-old"), exe("promptd-new")
	plain := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	got, err := parseCompare("base=" + old + "," + cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (binary{"base", old}) || got[1] != (binary{"promptd-new", cur}) {
		t.Errorf("parseCompare = %+v", got)
	}
	for _, tc := range []struct{ in, want string }{
		{old, "at least two binaries"},
		{old + ",," + cur, "an empty entry"},
		{"a=" + old + ",a=" + cur, `the label "a" is given twice`},
		{"a=" + old + ",b=" + filepath.Join(dir, "missing"), "no such file"},
		{"a=" + old + ",b=" + plain, "is not an executable file"},
		{"a=" + old + ",b=" + dir, "is not an executable file"},
		{"=" + old + "," + cur, "want label=path"},
	} {
		if _, err := parseCompare(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseCompare(%q) = %v, want an error saying %q", tc.in, err, tc.want)
		}
	}
}

func TestParseFlagsCompare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "single", "-compare", "a=/x,b=/y", "-bin", "/x"}, "leave out -bin"},
		{[]string{"-scenario", "single", "-compare", "a=/x,b=/y", "-pprof", "/tmp/p"}, "does not take -pprof"},
	} {
		if _, err := parseFlags(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}

func TestWriteComparison(t *testing.T) {
	t.Parallel()
	run := func(perSec, sys float64, missing int64) *Result {
		return &Result{Scenario: "postgres2", DeliveriesPerSec: perSec, SystemCPUMsPerDelivery: &sys, Delivered: 1000,
			CPUMsPerDelivery: 0.1, Missing: missing}
	}
	bins := []binary{{"old", "/bin/old"}, {"new", "/bin/new"}}
	runs := map[string][]*Result{
		"old": {run(4000, 0.40, 0), run(3000, 0.50, 0), run(3500, 0.44, 1)},
		"new": {run(5000, 0.30, 0), run(4900, 0.33, 0), run(5600, 0.20, 0)},
	}
	var b strings.Builder
	writeComparison(&b, "postgres2", bins, runs)
	out := b.String()
	for _, want := range []string{
		"alternating old (/bin/old), new (/bin/new)",
		"3500 (4000 · 3000 · 3500)", "5000 (5000 · 4900 · 5600)", "+43 %", // deliveries/s
		"0.440 (0.400 · 0.500 · 0.440)", "0.300 (0.300 · 0.330 · 0.200)", "-32 %", // whole-system CPU
		"0.100 (0.100 · 0.100 · 0.100)", // promptd CPU
		"1 (0 · 0 · 1)",                 // missing: the total, not the median
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the comparison lacks %q:\n%s", want, out)
		}
	}
	for _, absent := range []string{"PostgreSQL CPU", "handed over", "p50 ms"} {
		if strings.Contains(out, absent) {
			t.Errorf("the comparison shows %q, which no run measured:\n%s", absent, out)
		}
	}
	if m := medianOf([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("medianOf of an even count = %v, want 2.5", m)
	}
}
