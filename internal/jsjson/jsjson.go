// Package jsjson writes JSON exactly as JavaScript's JSON.stringify(JSON.parse(text)) does.
//
// Receivers written for some platforms verify a signature over JSON.stringify(req.body), the
// body as their framework parsed and re-serialised it, not over the bytes that arrived. A
// body passes such a receiver only if it is already in that form: compact; object members
// in JavaScript's property order (integer-like keys first, ascending, then the others in
// the order they first appear; a repeated key keeps its first position and last value);
// strings escaped as JSON.stringify escapes them (only '"', '\\' and control characters,
// lone surrogates as \udxxx; '/', '<', '>', '&', U+2028 and U+2029 as themselves); numbers
// as JavaScript prints a double (1e+21, 0.1, -0 as 0, integers beyond 2^53 rounded, and
// numbers out of a double's range as null).
package jsjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Canonical returns text as JSON.stringify(JSON.parse(text)) would write it. Bytes that are
// not UTF-8 inside strings become U+FFFD, as a UTF-8 decoder makes them before JSON.parse
// sees the text. It returns an error when text is not one JSON value.
func Canonical(text []byte) ([]byte, error) {
	p := parser{s: text}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected %q after the value", p.s[p.i])
	}
	out := make([]byte, 0, len(text))
	return v.append(out), nil
}

// maxDepth bounds nesting, as JavaScript engines do with their stack.
const maxDepth = 10000

type kind uint8

const (
	kindLiteral kind = iota // true, false, null, and numbers: raw holds the output
	kindString              // units holds the UTF-16 code units
	kindArray
	kindObject
)

// value is a parsed JSON value.
type value struct {
	kind    kind
	raw     string
	units   []uint16
	items   []*value
	members []member
}

type member struct {
	key   []uint16
	value *value
}

type parser struct {
	s []byte
	i int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("jsjson: offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*value, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested too deeply")
	}
	if p.i >= len(p.s) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		u, err := p.str()
		if err != nil {
			return nil, err
		}
		return &value{kind: kindString, units: u}, nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(p.s[p.i:], []byte(lit)) {
				p.i += len(lit)
				return &value{kind: kindLiteral, raw: lit}, nil
			}
		}
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *parser) object(depth int) (*value, error) {
	p.i++ // {
	v := &value{kind: kindObject}
	index := map[string]int{}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return v, nil
	}
	for {
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, p.errorf("expected a member name")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.errorf("expected ':'")
		}
		p.i++
		p.space()
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		k := unitsKey(key)
		if at, ok := index[k]; ok {
			v.members[at].value = item // a repeated key keeps its place and takes the last value
		} else {
			index[k] = len(v.members)
			v.members = append(v.members, member{key: key, value: item})
		}
		p.space()
		if p.i >= len(p.s) {
			return nil, p.errorf("unexpected end of input in an object")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			orderMembers(v.members)
			return v, nil
		default:
			return nil, p.errorf("expected ',' or '}'")
		}
	}
}

// unitsKey spells code units exactly, as a map key (two keys that differ only in lone
// surrogates stay distinct).
func unitsKey(u []uint16) string {
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c>>8), byte(c)
	}
	return string(b)
}

// orderMembers puts members in JavaScript's property order: array-index keys (canonical
// decimal integers below 2^32-1) first, ascending; the others keep their order.
func orderMembers(ms []member) {
	slices.SortStableFunc(ms, func(a, b member) int {
		ai, aok := arrayIndex(a.key)
		bi, bok := arrayIndex(b.key)
		switch {
		case aok && bok:
			return cmpUint(ai, bi)
		case aok:
			return -1
		case bok:
			return 1
		}
		return 0
	})
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// arrayIndex reports whether key is an array index: "0", or a decimal without a leading zero,
// below 2^32-1.
func arrayIndex(key []uint16) (uint64, bool) {
	if len(key) == 0 || len(key) > 10 || key[0] == '0' && len(key) > 1 {
		return 0, false
	}
	var n uint64
	for _, c := range key {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n < math.MaxUint32
}

func (p *parser) array(depth int) (*value, error) {
	p.i++ // [
	v := &value{kind: kindArray}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return v, nil
	}
	for {
		p.space()
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.items = append(v.items, item)
		p.space()
		if p.i >= len(p.s) {
			return nil, p.errorf("unexpected end of input in an array")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, nil
		default:
			return nil, p.errorf("expected ',' or ']'")
		}
	}
}

// str reads a string literal into UTF-16 code units, as JavaScript holds strings.
func (p *parser) str() ([]uint16, error) {
	p.i++ // "
	var out []uint16
	for {
		if p.i >= len(p.s) {
			return nil, p.errorf("unterminated string")
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			if out == nil {
				out = []uint16{}
			}
			return out, nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return nil, p.errorf("unterminated escape")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, uint16(e))
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				if p.i+4 > len(p.s) {
					return nil, p.errorf("short \\u escape")
				}
				n, err := strconv.ParseUint(string(p.s[p.i:p.i+4]), 16, 16)
				if err != nil {
					return nil, p.errorf("bad \\u escape %q", p.s[p.i:p.i+4])
				}
				out = append(out, uint16(n))
				p.i += 4
			default:
				return nil, p.errorf("bad escape \\%c", e)
			}
		case c < 0x20:
			return nil, p.errorf("control character %#x in a string", c)
		case c < utf8.RuneSelf:
			out = append(out, uint16(c))
			p.i++
		default:
			r, size := utf8.DecodeRune(p.s[p.i:])
			p.i += size
			out = utf16.AppendRune(out, r) // an invalid byte decodes as U+FFFD
		}
	}
}

func (p *parser) number() (*value, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	intStart := p.i
	if digits() == 0 {
		return nil, p.errorf("a number needs digits")
	}
	if p.s[intStart] == '0' && p.i-intStart > 1 {
		return nil, p.errorf("a number must not have a leading zero")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, p.errorf("a fraction needs digits")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.errorf("an exponent needs digits")
		}
	}
	f, err := strconv.ParseFloat(string(p.s[start:p.i]), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, p.errorf("bad number %q", p.s[start:p.i])
	}
	return &value{kind: kindLiteral, raw: Number(f)}, nil
}

// Number returns f as JSON.stringify writes it: JavaScript's Number::toString for finite
// values ("0" for -0), "null" for infinities and NaN.
func Number(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "null"
	}
	if f == 0 {
		return "0"
	}
	// The shortest digits that round-trip, as ECMAScript requires, and the exponent n such
	// that f = 0.d1d2…dk × 10^n.
	e := strconv.FormatFloat(math.Abs(f), 'e', -1, 64) // d.ddde±x
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	var b strings.Builder
	if f < 0 {
		b.WriteByte('-')
	}
	switch {
	case k <= n && n <= 21:
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", n-k))
	case 0 < n && n <= 21:
		b.WriteString(digits[:n])
		b.WriteByte('.')
		b.WriteString(digits[n:])
	case -6 < n && n <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -n))
		b.WriteString(digits)
	default:
		b.WriteByte(digits[0])
		if k > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if n-1 >= 0 {
			b.WriteByte('+')
		}
		b.WriteString(strconv.Itoa(n - 1))
	}
	return b.String()
}

func (v *value) append(b []byte) []byte {
	switch v.kind {
	case kindLiteral:
		return append(b, v.raw...)
	case kindString:
		return appendString(b, v.units)
	case kindArray:
		b = append(b, '[')
		for i, item := range v.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = item.append(b)
		}
		return append(b, ']')
	default:
		b = append(b, '{')
		for i, m := range v.members {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m.key)
			b = append(b, ':')
			b = m.value.append(b)
		}
		return append(b, '}')
	}
}

const hexDigits = "0123456789abcdef"

// appendString writes code units as JSON.stringify's QuoteJSONString does, in UTF-8.
func appendString(b []byte, u []uint16) []byte {
	b = append(b, '"')
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		case c < utf8.RuneSelf:
			b = append(b, byte(c))
		case utf16.IsSurrogate(rune(c)):
			if c < 0xdc00 && i+1 < len(u) && u[i+1] >= 0xdc00 && u[i+1] <= 0xdfff {
				b = utf8.AppendRune(b, utf16.DecodeRune(rune(c), rune(u[i+1])))
				i++
				continue
			}
			b = append(b, '\\', 'u', hexDigits[c>>12], hexDigits[c>>8&0xf], hexDigits[c>>4&0xf], hexDigits[c&0xf])
		default:
			b = utf8.AppendRune(b, rune(c))
		}
	}
	return append(b, '"')
}

// Marshal encodes v with encoding/json semantics for field names and order, then writes it
// canonically (see Canonical).
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("jsjson: %w", err)
	}
	return Canonical(buf.Bytes())
}
