package storetest

// Finding and listing prompts and versions, and folders.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/promptd/promptd"
)

func (su suite) testFindVersion(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.create(t, "p", "v1")
	find := func(sel promptd.VersionSelector) (int, error) {
		v, err := e.s.FindVersion(ctx, e.project, "p", sel)
		if err != nil {
			return 0, err
		}
		return v.Number, nil
	}
	if n, err := find(promptd.VersionSelector{}); err != nil || n != 1 {
		t.Errorf("default with one version: %d, %v; want 1 (latest)", n, err)
	}
	e.create(t, "p", "v2")
	if n, err := find(promptd.VersionSelector{}); err != nil || n != 2 {
		t.Errorf("default without production: %d, %v; want 2 (latest)", n, err)
	}
	e.setLabels(t, "p", 1, "production")
	e.create(t, "p", "v3", "staging")

	tests := []struct {
		name string
		sel  promptd.VersionSelector
		want int
		kind string
		msg  string
	}{
		{"default prefers production", promptd.VersionSelector{}, 1, "", ""},
		{"latest", promptd.VersionSelector{Label: "latest"}, 3, "", ""},
		{"staging", promptd.VersionSelector{Label: "staging"}, 3, "", ""},
		{"by number", promptd.VersionSelector{Version: 2}, 2, "", ""},
		{"missing label", promptd.VersionSelector{Label: "canary"}, 0, promptd.ENOTFOUND, `no version of prompt "p" carries label "canary"`},
		{"missing number", promptd.VersionSelector{Version: 7}, 0, promptd.ENOTFOUND, `prompt "p" has no version 7`},
		{"negative number", promptd.VersionSelector{Version: -1}, 0, promptd.EINVALID, ""},
	}
	for _, tc := range tests {
		n, err := find(tc.sel)
		if tc.kind != "" {
			wantErr(t, err, tc.kind, "", tc.msg)
			continue
		}
		if err != nil || n != tc.want {
			t.Errorf("%s: got %d, %v; want %d", tc.name, n, err, tc.want)
		}
	}
	v, err := e.s.FindVersion(ctx, e.project, "p", promptd.VersionSelector{})
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "default", "labels", v.Labels, list("production"))
	_, err = e.s.FindVersion(ctx, e.project, "nope/missing", promptd.VersionSelector{})
	wantErr(t, err, promptd.ENOTFOUND, "", `prompt "nope/missing"`)
	_, err = e.s.FindPrompt(ctx, e.project, "nope/missing")
	wantErr(t, err, promptd.ENOTFOUND, "", `prompt "nope/missing"`)

	// When production's version is deleted, the default falls back to latest.
	if err := e.s.DeleteVersion(ctx, e.project, e.actor, "p", 1); err != nil {
		t.Fatal(err)
	}
	if n, err := find(promptd.VersionSelector{}); err != nil || n != 3 {
		t.Errorf("default after deleting production's version: %d, %v; want 3", n, err)
	}
}

func (su suite) testFolders(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	names := []string{"customer-support/billing", "customer-support/billing/refunds", "customer-supportx", "customer-support.v2/a"}
	for _, n := range names {
		e.create(t, n, "x")
	}
	for _, n := range names {
		v, err := e.s.FindVersion(ctx, e.project, n, promptd.VersionSelector{})
		if err != nil || v.Name != n {
			t.Errorf("FindVersion(%q): %v, %v", n, v, err)
		}
	}
	page, err := e.s.ListPrompts(ctx, e.project, promptd.PromptFilter{Name: "customer-support/"})
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "folder", "names", promptNames(page.Items), []string{"customer-support/billing", "customer-support/billing/refunds"})
	newName := "archive/customer-support/billing"
	if _, err := e.s.UpdatePrompt(ctx, e.project, e.actor, "customer-support/billing", promptd.PromptUpdate{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	page, err = e.s.ListPrompts(ctx, e.project, promptd.PromptFilter{Name: "archive/"})
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "moved to a folder", "names", promptNames(page.Items), []string{newName})
}

func promptNames(ps []promptd.Prompt) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func (su suite) testListPrompts(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	type fixture struct {
		name   string
		tags   []string
		labels []string
	}
	fixtures := []fixture{
		{"team-a/one", []string{"billing"}, []string{"production"}},
		{"team-a/two", nil, nil},
		{"team-a/sub/three", []string{"billing", "beta"}, []string{"staging"}},
		{"team-ab", nil, []string{"production"}},
		{"team-b/one", []string{"beta"}, nil},
		{"a_b", nil, nil},
		{"axb", nil, nil},
		{"Zed", []string{"billing"}, []string{"production"}},
	}
	for _, f := range fixtures {
		e.createInput(t, promptd.CreateVersionInput{Name: f.name, Prompt: text("x"), Tags: f.tags, Labels: f.labels})
	}
	e.create(t, "team-a/one", "second") // team-a/one: production on 1, latest on 2

	all := []string{}
	for _, f := range fixtures {
		all = append(all, f.name)
	}
	slices.Sort(all) // byte order: "Zed" < "a_b" < "axb" < "team-a/one" ...

	tests := []struct {
		name   string
		filter promptd.PromptFilter
		want   []string
	}{
		{"all", promptd.PromptFilter{}, all},
		{"folder", promptd.PromptFilter{Name: "team-a/"}, []string{"team-a/one", "team-a/sub/three", "team-a/two"}},
		{"prefix", promptd.PromptFilter{Name: "team-a"}, []string{"team-a/one", "team-a/sub/three", "team-a/two", "team-ab"}},
		{"underscore is not a wildcard", promptd.PromptFilter{Name: "a_"}, []string{"a_b"}},
		{"percent is not a wildcard", promptd.PromptFilter{Name: "a%"}, []string{}},
		{"prefix is case-sensitive", promptd.PromptFilter{Name: "zed"}, []string{}},
		{"exact name", promptd.PromptFilter{Name: "Zed"}, []string{"Zed"}},
		{"impossible prefix", promptd.PromptFilter{Name: "team a"}, []string{}},
		{"label", promptd.PromptFilter{Label: "production"}, []string{"Zed", "team-a/one", "team-ab"}},
		{"label latest", promptd.PromptFilter{Label: "latest"}, all},
		{"tag", promptd.PromptFilter{Tag: "billing"}, []string{"Zed", "team-a/one", "team-a/sub/three"}},
		{"tag and label", promptd.PromptFilter{Tag: "billing", Label: "staging"}, []string{"team-a/sub/three"}},
		{"folder and tag", promptd.PromptFilter{Name: "team-", Tag: "beta"}, []string{"team-a/sub/three", "team-b/one"}},
		{"unknown tag", promptd.PromptFilter{Tag: "bill"}, []string{}},
	}
	for _, tc := range tests {
		for _, limit := range []int{0, 1, 3} {
			f := tc.filter
			f.Limit = limit
			var got []string
			pages := 0
			for {
				page, err := e.s.ListPrompts(ctx, e.project, f)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				pages++
				if limit > 0 && len(page.Items) > limit {
					t.Errorf("%s: a page of %d items with limit %d", tc.name, len(page.Items), limit)
				}
				got = append(got, promptNames(page.Items)...)
				if page.NextCursor == "" || pages > 20 {
					break
				}
				f.Cursor = page.NextCursor
			}
			if got == nil {
				got = []string{}
			}
			checkJSON(t, fmt.Sprintf("%s (limit %d)", tc.name, limit), "names", got, tc.want)
		}
	}

	page, err := e.s.ListPrompts(ctx, e.project, promptd.PromptFilter{Name: "team-a/one"})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("ListPrompts(team-a/one): %v, %v", page, err)
	}
	p := page.Items[0]
	checkJSON(t, "listed prompt", "Labels", p.Labels, map[string]int{"latest": 2, "production": 1})
	checkEq(t, "listed prompt", "LatestVersion", p.LatestVersion, 2)
	checkEq(t, "listed prompt", "VersionCount", p.VersionCount, 2)
	checkJSON(t, "listed prompt", "Tags", p.Tags, list("billing"))
	checkJSON(t, "listed prompt", "FindPrompt", p, e.prompt(t, "team-a/one"))

	_, err = e.s.ListPrompts(ctx, e.project, promptd.PromptFilter{PageRequest: promptd.PageRequest{Cursor: "!!not a cursor"}})
	wantErr(t, err, promptd.EINVALID, "query.cursor")
	for _, limit := range []int{-1, promptd.MaxPageLimit + 1} {
		_, err = e.s.ListPrompts(ctx, e.project, promptd.PromptFilter{PageRequest: promptd.PageRequest{Limit: limit}})
		wantErr(t, err, promptd.EINVALID, "query.limit")
	}
}

func (su suite) testListVersions(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	for i := 1; i <= 5; i++ {
		e.create(t, "p", fmt.Sprint("v", i))
	}
	e.setLabels(t, "p", 2, "production")
	list := func(limit int) ([][]int, [][]string) {
		var numbers [][]int
		var labels [][]string
		pr := promptd.PageRequest{Limit: limit}
		for i := 0; i < 10; i++ {
			page, err := e.s.ListVersions(ctx, e.project, "p", pr)
			if err != nil {
				t.Fatal(err)
			}
			var ns []int
			for _, v := range page.Items {
				ns = append(ns, v.Number)
				if len(v.Labels) > 0 {
					labels = append(labels, append([]string{fmt.Sprint(v.Number)}, v.Labels...))
				}
			}
			numbers = append(numbers, ns)
			if page.NextCursor == "" {
				break
			}
			pr.Cursor = page.NextCursor
		}
		return numbers, labels
	}
	numbers, labels := list(2)
	checkJSON(t, "pages of 2", "numbers", numbers, [][]int{{5, 4}, {3, 2}, {1}})
	checkJSON(t, "pages of 2", "labels", labels, [][]string{{"5", "latest"}, {"2", "production"}})
	if err := e.s.DeleteVersion(ctx, e.project, e.actor, "p", 3); err != nil {
		t.Fatal(err)
	}
	numbers, _ = list(2)
	checkJSON(t, "after deleting 3", "numbers", numbers, [][]int{{5, 4}, {2, 1}})
	numbers, _ = list(0)
	checkJSON(t, "default limit", "numbers", numbers, [][]int{{5, 4, 2, 1}})

	_, err := e.s.ListVersions(ctx, e.project, "missing", promptd.PageRequest{})
	wantErr(t, err, promptd.ENOTFOUND, "", `prompt "missing"`)
	_, err = e.s.ListVersions(ctx, e.project, "p", promptd.PageRequest{Cursor: "bm90IGEgbnVtYmVy"})
	wantErr(t, err, promptd.EINVALID, "query.cursor")
}
