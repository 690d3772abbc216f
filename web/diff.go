package web

import (
	"encoding/json"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

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

// versionText renders a version as the lines the diff compares: the prompt (a chat prompt
// as one "role:" heading per message), then its config, pretty-printed.
func versionText(v *promptd.Version) string {
	var b strings.Builder
	switch v.Type {
	case promptd.ChatPrompt:
		var msgs []promptd.ChatMessage
		_ = json.Unmarshal(v.Prompt, &msgs)
		for i, m := range msgs {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString("[" + m.Role + "]\n" + m.Content + "\n")
		}
	default:
		var s string
		_ = json.Unmarshal(v.Prompt, &s)
		b.WriteString(s + "\n")
	}
	b.WriteString("\n── config ──\n")
	b.WriteString(prettyJSON(v.Config))
	return b.String()
}

// diffContext is how many unchanged lines are kept around each change.
const diffContext = 3

// diffVersions compares two versions line by line (difflib's sequence matcher, the
// algorithm of Python's difflib) and lays the result out side by side.
func diffVersions(from, to *promptd.Version) *diffView {
	a := strings.Split(strings.TrimRight(versionText(from), "\n"), "\n")
	b := strings.Split(strings.TrimRight(versionText(to), "\n"), "\n")
	d := &diffView{From: from.Number, To: to.Number, FromType: from.Type, ToType: to.Type}
	m := difflib.NewMatcher(a, b)
	groups := m.GetGroupedOpCodes(diffContext)
	if len(groups) == 0 {
		d.Identical = true
		return d
	}
	for gi, group := range groups {
		for oi, op := range group {
			sep := oi == 0 && (gi > 0 || op.I1 > 0 || op.J1 > 0)
			switch op.Tag {
			case 'e':
				for k := 0; k < op.I2-op.I1; k++ {
					d.Rows = append(d.Rows, diffRow{Kind: "eq", LeftNo: op.I1 + k + 1, Left: a[op.I1+k], RightNo: op.J1 + k + 1, Right: b[op.J1+k], Separator: sep && k == 0})
				}
			case 'd':
				for k := op.I1; k < op.I2; k++ {
					d.Rows = append(d.Rows, diffRow{Kind: "del", LeftNo: k + 1, Left: a[k], Separator: sep && k == op.I1})
					d.Removed++
				}
			case 'i':
				for k := op.J1; k < op.J2; k++ {
					d.Rows = append(d.Rows, diffRow{Kind: "ins", RightNo: k + 1, Right: b[k], Separator: sep && k == op.J1})
					d.Added++
				}
			case 'r':
				n := max(op.I2-op.I1, op.J2-op.J1)
				for k := range n {
					row := diffRow{Kind: "chg", Separator: sep && k == 0}
					if i := op.I1 + k; i < op.I2 {
						row.LeftNo, row.Left = i+1, a[i]
						d.Removed++
					}
					if j := op.J1 + k; j < op.J2 {
						row.RightNo, row.Right = j+1, b[j]
						d.Added++
					}
					d.Rows = append(d.Rows, row)
				}
			}
		}
	}
	return d
}
