package jsjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// adversarial are inputs whose canonical form differs from encoding/json's, or is easy to get
// wrong.
var adversarial = []string{
	`{"b":1,"a":2}`,
	`{"b":1,"2":2,"10":3,"1":4,"01":5,"-1":6,"4294967294":7,"4294967295":8}`,
	`{"a":1,"b":2,"a":3}`,
	`{"__proto__":{"x":1},"constructor":null}`,
	`"<>&'/ \u2028 \u2029 \u00e9 é 😀 \ud83d\ude00"`,
	`"\u0000\u0001\u001f\u007f\b\f\n\r\t\"\\\/"`,
	`"\ud800 lone \udfff and \ud83d"`,
	`{"\ud800":1,"\udfff":2,"\ud800":3}`,
	`[1e21,1e20,123456789012345678901234567890,0.1,-0.0,-0,1E400,-1e400,5e-324,1e-7,1e-6,0.000001234,123e-20]`,
	`[12345678901234567890,9007199254740993,-9007199254740993,1.7976931348623157e308,2.5e-7,100,1.5,-2.75e+3]`,
	`[0.1e1,10.0,1.0e0,0e5,-0e-5,4.35,0.3,1.0000000000000002]`,
	" \t\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } , \"c\" : [ ] }\r\n",
	`{"emoji":"👩‍👩‍👧 🏳️‍🌈","rtl":"مرحبا","cjk":"漢字","nul":"a\u0000b"}`,
	`true`, `null`, `"x"`, `-1`,
	"\"raw\xffbyte\xc3\"",
}

func TestCanonicalAgainstNode(t *testing.T) {
	inputs := append([]string{}, adversarial...)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		inputs = append(inputs, string(randomJSON(rng, 0)))
	}
	want := nodeStringify(t, inputs)
	for i, in := range inputs {
		got, err := Canonical([]byte(in))
		if err != nil {
			t.Errorf("Canonical(%q): %v", in, err)
			continue
		}
		if !bytes.Equal(got, want[i]) {
			t.Errorf("Canonical(%q)\n got %q\nwant %q (node)", in, got, want[i])
		}
		again, err := Canonical(got)
		if err != nil || !bytes.Equal(again, got) {
			t.Errorf("Canonical is not a fixpoint on %q: %q, %v", got, again, err)
		}
	}
}

func TestNumber(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1e21, "1e+21"}, {1e20, "100000000000000000000"},
		{0.1, "0.1"}, {1e-7, "1e-7"}, {1e-6, "0.000001"}, {-2.5e-8, "-2.5e-8"}, {123.456, "123.456"},
		{math.Inf(1), "null"}, {math.NaN(), "null"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
		{12345678901234567890, "12345678901234567000"}, {-42, "-42"},
	} {
		if got := Number(c.f); got != c.want {
			t.Errorf("Number(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

func TestCanonicalRejectsInvalid(t *testing.T) {
	for _, in := range []string{``, `{`, `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `+1`, `"\x"`, `"a`, "\"a\nb\"", `{"a" 1}`, `[1] 2`, `tru`, `"\u12"`, `1e`} {
		if out, err := Canonical([]byte(in)); err == nil {
			t.Errorf("Canonical(%q) = %q, want an error", in, out)
		}
	}
}

func TestMarshalKeepsFieldOrderAndDoesNotEscapeHTML(t *testing.T) {
	v := struct {
		Z string  `json:"z"`
		A float64 `json:"a"`
		N any     `json:"n"`
	}{Z: "<b>&\u2028", A: 1e21, N: json.RawMessage(`{"y":1,"1":2}`)}
	got, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"z\":\"<b>&\u2028\",\"a\":1e+21,\"n\":{\"1\":2,\"y\":1}}"; string(got) != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
}

// randomJSON builds a random JSON text that mixes the hard parts: key orders, escapes,
// surrogates, and numbers of every magnitude, written in several spellings.
func randomJSON(rng *rand.Rand, depth int) []byte {
	var b bytes.Buffer
	pick := rng.IntN(7)
	if depth > 3 {
		pick = rng.IntN(3)
	}
	switch pick {
	case 0:
		b.WriteString(randomNumber(rng))
	case 1:
		b.WriteString(randomString(rng))
	case 2:
		b.WriteString([]string{"true", "false", "null"}[rng.IntN(3)])
	case 3, 4:
		b.WriteByte('[')
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(randomJSON(rng, depth+1))
		}
		b.WriteByte(']')
	default:
		b.WriteByte('{')
		keys := []string{`"a"`, `"b"`, `"0"`, `"7"`, `"12"`, `"007"`, `"x y"`, `"\u00e9"`, `"é"`, `"\ud800"`, `"-3"`, `"1.5"`}
		for i := range rng.IntN(6) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(keys[rng.IntN(len(keys))])
			b.WriteString(" : ")
			b.Write(randomJSON(rng, depth+1))
		}
		b.WriteByte('}')
	}
	return b.Bytes()
}

func randomNumber(rng *rand.Rand) string {
	switch rng.IntN(6) {
	case 0:
		return fmt.Sprint(rng.Int64() - math.MaxInt64/2)
	case 1:
		return fmt.Sprintf("%de%d", rng.IntN(2000)-1000, rng.IntN(700)-350)
	case 2:
		return fmt.Sprintf("%.*f", rng.IntN(20), (rng.Float64()-0.5)*math.Pow(10, float64(rng.IntN(30)-10)))
	case 3:
		return fmt.Sprintf("%E", (rng.Float64()-0.5)*math.Pow(10, float64(rng.IntN(80)-40)))
	case 4:
		return strings.Repeat("9", 1+rng.IntN(30))
	default:
		return fmt.Sprintf("0.%0*d", 1+rng.IntN(12), rng.IntN(1000))
	}
}

func randomString(rng *rand.Rand) string {
	parts := []string{"a", "<", ">", "&", "/", `\/`, `\"`, `\\`, `\n`, `\u0000`, `\u001F`, "\u007f", `\u2028`, "\u2029",
		"é", "😀", `\ud83d\ude00`, `\ud83d`, `\ude00`, `\uFFFF`, "\ufeff", " ", `\t`, "漢"}
	var b strings.Builder
	b.WriteByte('"')
	for range rng.IntN(8) {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	b.WriteByte('"')
	return b.String()
}

// nodeStringify runs node on inputs and returns JSON.stringify(JSON.parse(input)) of each,
// as the bytes node writes in UTF-8. The inputs are decoded as a browser or body-parser
// decodes a request (UTF-8, invalid bytes replaced).
func nodeStringify(t *testing.T, inputs []string) [][]byte {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is required under CI=true")
		}
		t.Skip("node is not installed")
	}
	var in bytes.Buffer
	for _, s := range inputs {
		in.WriteString(base64.StdEncoding.EncodeToString([]byte(s)))
		in.WriteByte('\n')
	}
	const script = `
const lines = require('fs').readFileSync(0, 'latin1').split('\n').filter(Boolean);
const td = new TextDecoder('utf-8');
for (const l of lines) {
  const text = td.decode(Buffer.from(l, 'base64'));
  process.stdout.write(Buffer.from(JSON.stringify(JSON.parse(text)), 'utf8').toString('base64') + '\n');
}`
	cmd := exec.Command(node, "-e", script)
	cmd.Stdin = &in
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("node answered %d lines for %d inputs", len(lines), len(inputs))
	}
	res := make([][]byte, len(lines))
	for i, l := range lines {
		if res[i], err = base64.StdEncoding.DecodeString(l); err != nil {
			t.Fatal(err)
		}
	}
	return res
}
