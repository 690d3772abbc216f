package web

import (
	"github.com/promptd/promptd"
)

// diffRow is one row of a side-by-side diff. A side's number is 0 where the row has no
// line on that side.
type diffRow struct {
	Kind      string // "eq", "del", "ins" or "chg"
	LeftNo    int
	Left      string
	RightNo   int
	Right     string
	Separator bool // a gap of unchanged lines left out before this row
}

// diffView is the diff between two versions of a prompt.
type diffView struct {
	From, To         int
	Rows             []diffRow
	Added, Removed   int
	Identical        bool
	FromType, ToType promptd.PromptType
}

// diffVersions lays promptd.DiffVersions out side by side: a run of removed lines followed
// by a run of added ones pairs up row by row as changed lines.
func diffVersions(from, to *promptd.Version) *diffView {
	vd := promptd.DiffVersions(from, to)
	d := &diffView{From: vd.From, To: vd.To, FromType: vd.FromType, ToType: vd.ToType, Added: vd.Added, Removed: vd.Removed}
	if len(vd.Hunks) == 0 {
		d.Identical = true
		return d
	}
	for hi, h := range vd.Hunks {
		start := len(d.Rows)
		lines := h.Lines
		for len(lines) > 0 {
			if lines[0].Op == promptd.DiffEqual {
				l := lines[0]
				d.Rows = append(d.Rows, diffRow{Kind: "eq", LeftNo: l.FromLine, Left: l.Text, RightNo: l.ToLine, Right: l.Text})
				lines = lines[1:]
				continue
			}
			var del, ins []promptd.DiffLine
			for len(lines) > 0 && lines[0].Op == promptd.DiffDelete {
				del, lines = append(del, lines[0]), lines[1:]
			}
			for len(lines) > 0 && lines[0].Op == promptd.DiffInsert {
				ins, lines = append(ins, lines[0]), lines[1:]
			}
			kind := "chg"
			switch {
			case len(ins) == 0:
				kind = "del"
			case len(del) == 0:
				kind = "ins"
			}
			for k := range max(len(del), len(ins)) {
				row := diffRow{Kind: kind}
				if k < len(del) {
					row.LeftNo, row.Left = del[k].FromLine, del[k].Text
				}
				if k < len(ins) {
					row.RightNo, row.Right = ins[k].ToLine, ins[k].Text
				}
				d.Rows = append(d.Rows, row)
			}
		}
		first := h.Lines[0]
		d.Rows[start].Separator = hi > 0 || first.FromLine > 1 || first.ToLine > 1
	}
	return d
}
