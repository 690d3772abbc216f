package web_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// screenshotDir is where PROMPTD_SCREENSHOTS=1 writes the dashboard's screenshots.
var screenshotDir = filepath.Join("..", "docs", "screenshots")

// shooter returns the browser step that writes the page's full screenshot as
// docs/screenshots/<name>.png when PROMPTD_SCREENSHOTS=1 (see writeScreenshot), and does
// nothing otherwise; on reports whether it writes.
func shooter(t *testing.T) (shot func(name string) chromedp.Action[chromedp.Void], on bool) {
	on = os.Getenv("PROMPTD_SCREENSHOTS") == "1"
	return func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if !on {
				return nil
			}
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return writeScreenshot(t, name, buf)
		})
	}, on
}

// writeScreenshot writes a screenshot to docs/screenshots/name.png unless the file there
// already looks the same: PNG bytes differ from run to run (times, IDs, anti-aliasing), so
// rewriting every file would leave the working tree dirty with unchanged-looking images.
// A screenshot counts as changed when its size differs or more than 0.5 % of its pixels do.
func writeScreenshot(t *testing.T, name string, buf []byte) error {
	t.Helper()
	path := filepath.Join(screenshotDir, name+".png")
	if old, err := os.ReadFile(path); err == nil && looksSame(old, buf) {
		t.Logf("screenshot %s: unchanged, not rewritten", name)
		return nil
	}
	return os.WriteFile(path, buf, 0o644)
}

// looksSame reports whether two PNG images have the same size and differ in at most 0.5 %
// of their pixels.
func looksSame(a, b []byte) bool {
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		return false
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return false
	}
	if ia.Bounds() != ib.Bounds() {
		return false
	}
	return differingPixels(ia, ib)*200 <= ia.Bounds().Dx()*ia.Bounds().Dy()
}

// differingPixels counts the pixels whose colours differ between two images of one size.
func differingPixels(a, b image.Image) int {
	n := 0
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				n++
			}
		}
	}
	return n
}

func TestLooksSame(t *testing.T) {
	t.Parallel()
	img := func(w, h, changed int) []byte {
		m := image.NewGray(image.Rect(0, 0, w, h))
		for i := range changed {
			m.Pix[i] = 255
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	base := img(100, 100, 0)
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"identical", img(100, 100, 0), true},
		{"50 of 10,000 pixels differ", img(100, 100, 50), true},
		{"51 of 10,000 pixels differ", img(100, 100, 51), false},
		{"another size", img(100, 101, 0), false},
		{"not a PNG", []byte("nope"), false},
	} {
		if got := looksSame(base, tc.b); got != tc.want {
			t.Errorf("%s: looksSame = %v, want %v", tc.name, got, tc.want)
		}
	}
}
