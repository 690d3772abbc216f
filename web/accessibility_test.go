package web_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/promptd/promptd"
)

// axeVersion is the axe-core release the accessibility check runs (pinned: a new release
// may add rules, which should be a change of this line, not a surprise in CI).
const axeVersion = "4.10.3"

// axeRules are the rule sets checked: WCAG 2.0 and 2.1, levels A and AA (labels, contrast,
// names of controls, landmarks, focus order via tabindex, …).
const axeRules = `["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]`

// axeSource returns axe.min.js of axeVersion, installed with npm into the user's cache
// directory on first use. Without npm the test is skipped, except with CI=true, where it
// fails: make test must run it.
func axeSource(t *testing.T) string {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("npm is not installed: the accessibility check needs it to install axe-core (CI=true requires the check)")
		}
		t.Skip("npm is not installed: skipping the accessibility check (it installs axe-core with npm)")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "promptd-test", "axe-core-"+axeVersion)
	script := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	if b, err := os.ReadFile(script); err == nil {
		return string(b)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Install beside the final directory and rename it into place, so that a test
	// interrupted midway or run twice at once never leaves a half-installed copy in use.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "axe-core-install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(t.Context(), npm, "install", "--prefix", tmp, "--no-save", "--no-audit", "--no-fund",
		"--ignore-scripts", "--loglevel=error", "axe-core@"+axeVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing axe-core %s with npm: %v\n%s", axeVersion, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, serr := os.Stat(script); serr != nil {
			t.Fatalf("installing axe-core: %v", err)
		}
	}
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatalf("axe-core installed, but: %v", err)
	}
	return string(b)
}

// axeViolation is one rule axe found broken on a page, with the elements that break it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// checkAccessibility runs axe on the page open in b and reports every violation.
func (b *browserSession) checkAccessibility(axe, page string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](axe+";true")); err != nil {
		b.t.Fatalf("%s: injecting axe-core: %v", page, err)
	}
	var result struct {
		Violations []axeViolation `json:"violations"`
		Passes     int            `json:"passes"`
	}
	b.eval(`axe.run(document, {runOnly: {type: "tag", values: `+axeRules+`}}).then(r => ({violations: r.violations, passes: r.passes.length}))`, &result)
	if result.Passes == 0 {
		b.t.Errorf("%s: axe checked nothing (no rule passed)", page)
	}
	for _, v := range result.Violations {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " ")))
		}
		b.t.Errorf("%s: %s (%s): %s\n\t%s", page, v.ID, v.Impact, v.Help, strings.Join(where, "\n\t"))
	}
}

// TestAccessibility runs axe-core (issue 16) over every page of the dashboard, on a desktop
// and on a 390 px wide phone, signed in as an instance admin with data on every page: labels
// on inputs, contrast, names of buttons and links, landmarks, heading order, focus order.
func TestAccessibility(t *testing.T) {
	axe := axeSource(t)
	d := startDashboard(t)
	rcv := startReceiver(t)
	seed(t, d.Store)
	ctx := t.Context()
	admin, err := d.Store.Authenticate(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	project := admin.ProjectID
	w := createWebhook(t, d, project, "Billing alerts", rcv.URL+"/hook", nil)
	ev := publish(t, d, project, "deploy.finished")
	var delivery string
	waitFor(t, "the delivery to succeed", func() bool {
		page, err := d.Store.ListDeliveries(ctx, project, promptd.DeliveryFilter{WebhookID: w.ID, EventID: ev.ID})
		if err != nil || len(page.Items) != 1 || page.Items[0].Status != promptd.StatusSucceeded {
			return false
		}
		delivery = page.Items[0].ID
		return true
	})
	if _, err := d.Store.SetReleasePolicy(ctx, project, promptd.ReleasePolicy{Labels: []promptd.ProtectedLabel{{Label: "production"}}, RequiredApprovals: 1}); err != nil {
		t.Fatal(err)
	}
	pr, err := d.Store.RequestPromotion(ctx, project, admin.Actor(), "marketing/tagline", promptd.PromotionInput{Version: 2, Label: "production"})
	if err != nil {
		t.Fatal(err)
	}

	pages := []struct{ path, waitFor string }{
		{"/prompts", "table.list"},
		{"/prompts?q=tagline", "h1"},
		{"/prompt-new", "#name"},
		{"/prompts/customer-support/refunds", "#version-title"},
		{"/prompts/marketing/tagline?from=1&to=2", "table.diff"},
		{"/webhooks", "table.list"},
		{"/webhooks/new", "#url"},
		{"/webhooks/" + w.ID, "h1"},
		{"/webhooks/" + w.ID + "/edit", "#url"},
		{"/deliveries", "table.list"},
		{"/deliveries/" + delivery, "#delivery-body"},
		{"/events", "ol.events"},
		{"/events/" + ev.ID, "h1"},
		{"/promotions", "h1"},
		{"/promotions/" + pr.ID, "h1"},
		{"/keys", "table.keys"},
		{"/no-such-page", "h1"},
	}
	// One browser per viewport: each has its own time budget (see newBrowser).
	for _, viewport := range []string{"desktop", "390 px phone"} {
		b := signedInBrowser(t, d)
		if viewport != "desktop" {
			b.run("a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		}
		for _, p := range pages {
			b.run("open "+p.path+" ("+viewport+")", chromedp.Navigate(b.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.waitFor)))
			b.checkAccessibility(axe, p.path+" ("+viewport+")")
		}
	}

	// The sign-in page, signed out.
	out := &browserSession{t: t, ctx: newBrowser(t), url: d.URL}
	out.run("open /signin", chromedp.Navigate(d.URL+"/signin"), chromedp.WaitVisible(chromedp.ID("key")))
	out.checkAccessibility(axe, "/signin")

}
