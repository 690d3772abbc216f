package promptd

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// DiffContext is how many unchanged lines a diff keeps around each change.
const DiffContext = 3

// Line operations of a DiffLine.
const (
	DiffEqual  = "eq"  // the line is on both sides
	DiffDelete = "del" // the line is only in the older version
	DiffInsert = "ins" // the line is only in the newer version
)

// Statuses of a MessageDiff.
const (
	MessageUnchanged = "unchanged"
	MessageChanged   = "changed"
	MessageAdded     = "added"
	MessageRemoved   = "removed"
)

// VersionDiff is the difference between two versions of a prompt, each rendered as text by
// VersionText: the prompt (a chat prompt as one "[role]" heading per message) and then its
// config, pretty-printed.
type VersionDiff struct {
	Name          string        `json:"name" doc:"The prompt's name"`
	From          int           `json:"from" doc:"The older side's version number"`
	To            int           `json:"to" doc:"The newer side's version number"`
	FromType      PromptType    `json:"fromType" enum:"text,chat" doc:"The older side's type"`
	ToType        PromptType    `json:"toType" enum:"text,chat" doc:"The newer side's type"`
	Identical     bool          `json:"identical" doc:"Both versions have the same type, content and config"`
	PromptChanged bool          `json:"promptChanged" doc:"The type or content differs"`
	ConfigChanged bool          `json:"configChanged" doc:"The config differs"`
	Added         int           `json:"added" doc:"Lines only in the newer version"`
	Removed       int           `json:"removed" doc:"Lines only in the older version"`
	Unified       string        `json:"unified" doc:"A unified diff (as git diff prints it) of the two versions rendered as text, prompt then config; empty when identical"`
	Hunks         []DiffHunk    `json:"hunks" doc:"The unified diff's hunks, line by line"`
	Messages      []MessageDiff `json:"messages,omitempty" doc:"When both versions are chat prompts: message by message, aligned"`
}

// DiffHunk is a run of changed lines with up to DiffContext unchanged lines around it.
// Line numbers count from 1; a side's start is the number of its first line in the hunk,
// or of the line before when the hunk has none on that side.
type DiffHunk struct {
	FromStart int        `json:"fromStart" doc:"The first line on the older side"`
	FromLines int        `json:"fromLines" doc:"How many lines of the older side the hunk covers"`
	ToStart   int        `json:"toStart" doc:"The first line on the newer side"`
	ToLines   int        `json:"toLines" doc:"How many lines of the newer side the hunk covers"`
	Lines     []DiffLine `json:"lines"`
}

// DiffLine is one line of a hunk. A side's line number is 0 where the line is not on it.
type DiffLine struct {
	Op       string `json:"op" enum:"eq,del,ins" doc:"eq: on both sides; del: only in the older version; ins: only in the newer"`
	FromLine int    `json:"fromLine,omitempty" doc:"The line's number on the older side"`
	ToLine   int    `json:"toLine,omitempty" doc:"The line's number on the newer side"`
	Text     string `json:"text"`
}

// MessageDiff is one message of a chat prompt's diff. Messages are aligned the way lines
// are: an unchanged message is on both sides; a changed one replaced a message at the same
// place; an added or removed one is on one side only.
type MessageDiff struct {
	Status    string       `json:"status" enum:"unchanged,changed,added,removed"`
	FromIndex *int         `json:"fromIndex,omitempty" doc:"The message's index (from 0) in the older version"`
	ToIndex   *int         `json:"toIndex,omitempty" doc:"The message's index (from 0) in the newer version"`
	From      *ChatMessage `json:"from,omitempty" doc:"The message in the older version"`
	To        *ChatMessage `json:"to,omitempty" doc:"The message in the newer version"`
	Unified   string       `json:"unified,omitempty" doc:"For a changed message: a unified diff of its content"`
}

// VersionText renders a version as the text a diff compares: the prompt (a chat prompt as
// one "[role]" heading per message, messages separated by a blank line), a "── config ──"
// line, and the config, pretty-printed.
func VersionText(v *Version) string {
	var b strings.Builder
	switch v.Type {
	case ChatPrompt:
		for i, m := range chatMessages(v) {
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
	b.WriteString(canonicalJSON(v.Config))
	return b.String()
}

// DiffVersions compares two versions of a prompt line by line (difflib's sequence
// matcher, the algorithm of Python's difflib), and message by message when both are chat
// prompts.
func DiffVersions(from, to *Version) *VersionDiff {
	d := &VersionDiff{Name: to.Name, From: from.Number, To: to.Number, FromType: from.Type, ToType: to.Type, Hunks: []DiffHunk{}}
	d.PromptChanged = from.Type != to.Type || !jsonEqual(from.Prompt, to.Prompt)
	d.ConfigChanged = !jsonEqual(from.Config, to.Config)
	a, b := textLines(VersionText(from)), textLines(VersionText(to))
	d.Hunks, d.Added, d.Removed = diffHunks(a, b)
	d.Identical = !d.PromptChanged && !d.ConfigChanged
	if len(d.Hunks) > 0 {
		d.Unified = unified(a, b, d.Name+" v"+strconv.Itoa(from.Number), d.Name+" v"+strconv.Itoa(to.Number))
	}
	if from.Type == ChatPrompt && to.Type == ChatPrompt {
		d.Messages = diffMessages(chatMessages(from), chatMessages(to))
	}
	return d
}

// diffHunks groups the line differences between a and b into hunks.
func diffHunks(a, b []string) (hunks []DiffHunk, added, removed int) {
	hunks = []DiffHunk{}
	for _, group := range difflib.NewMatcher(a, b).GetGroupedOpCodes(DiffContext) {
		first, last := group[0], group[len(group)-1]
		h := DiffHunk{FromStart: first.I1 + 1, FromLines: last.I2 - first.I1, ToStart: first.J1 + 1, ToLines: last.J2 - first.J1}
		if h.FromLines == 0 {
			h.FromStart--
		}
		if h.ToLines == 0 {
			h.ToStart--
		}
		for _, op := range group {
			if op.Tag == 'e' {
				for k := 0; k < op.I2-op.I1; k++ {
					h.Lines = append(h.Lines, DiffLine{Op: DiffEqual, FromLine: op.I1 + k + 1, ToLine: op.J1 + k + 1, Text: a[op.I1+k]})
				}
				continue
			}
			if op.Tag == 'd' || op.Tag == 'r' {
				for i := op.I1; i < op.I2; i++ {
					h.Lines = append(h.Lines, DiffLine{Op: DiffDelete, FromLine: i + 1, Text: a[i]})
					removed++
				}
			}
			if op.Tag == 'i' || op.Tag == 'r' {
				for j := op.J1; j < op.J2; j++ {
					h.Lines = append(h.Lines, DiffLine{Op: DiffInsert, ToLine: j + 1, Text: b[j]})
					added++
				}
			}
		}
		hunks = append(hunks, h)
	}
	return hunks, added, removed
}

// diffMessages aligns two chat prompts' messages.
func diffMessages(a, b []ChatMessage) []MessageDiff {
	key := func(ms []ChatMessage) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.Role + "\x00" + m.Content
		}
		return out
	}
	at := func(ms []ChatMessage, i int) (*int, *ChatMessage) { return &i, &ms[i] }
	out := []MessageDiff{}
	for _, op := range difflib.NewMatcher(key(a), key(b)).GetOpCodes() {
		n := max(op.I2-op.I1, op.J2-op.J1)
		for k := range n {
			md := MessageDiff{}
			i, j := op.I1+k, op.J1+k
			if i < op.I2 {
				md.FromIndex, md.From = at(a, i)
			}
			if j < op.J2 {
				md.ToIndex, md.To = at(b, j)
			}
			switch {
			case op.Tag == 'e':
				md.Status = MessageUnchanged
			case md.From != nil && md.To != nil:
				md.Status = MessageChanged
				md.Unified = unified(textLines(md.From.Content), textLines(md.To.Content), "["+md.From.Role+"]", "["+md.To.Role+"]")
			case md.From != nil:
				md.Status = MessageRemoved
			default:
				md.Status = MessageAdded
			}
			out = append(out, md)
		}
	}
	return out
}

// unified is the unified diff of a and b under the given file names, "" when they are equal.
func unified(a, b []string, fromName, toName string) string {
	withNewline := func(lines []string) []string {
		out := make([]string, len(lines))
		for i, l := range lines {
			out[i] = l + "\n"
		}
		return out
	}
	s, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: withNewline(a), B: withNewline(b), FromFile: fromName, ToFile: toName, Context: DiffContext})
	if err != nil { // writing to a strings.Builder does not fail
		return ""
	}
	return s
}

// textLines splits s into lines, ignoring a final newline.
func textLines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// chatMessages decodes a chat version's messages; nil for anything else.
func chatMessages(v *Version) []ChatMessage {
	var msgs []ChatMessage
	_ = json.Unmarshal(v.Prompt, &msgs)
	return msgs
}

// canonicalJSON pretty-prints a JSON document with its object keys sorted and its numbers
// as written, or returns it as it is when it is not one; so two configs that differ only
// in key order or spacing render alike.
func canonicalJSON(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return string(b)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if enc.Encode(v) != nil {
		return string(b)
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// jsonEqual reports whether two JSON documents have the same value (key order and spacing
// aside); empty counts as null.
func jsonEqual(a, b []byte) bool {
	if len(bytes.TrimSpace(a)) == 0 {
		a = []byte("null")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("null")
	}
	return canonicalJSON(a) == canonicalJSON(b)
}
