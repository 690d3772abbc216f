package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/client"
)

type promptsPullCmd struct {
	Dir    string `arg:"" type:"path" help:"The directory to write into (created if missing)."`
	Prefix string `name:"prefix" help:"Only prompts whose name starts with this (customer-support/)."`
	Label  string `name:"label" help:"Write the version carrying this label instead of the latest; prompts without it are skipped."`
}

func (c *promptsPullCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	prompts, err := cl.AllPrompts(ctx, client.ListPromptsOptions{Name: c.Prefix, Limit: promptd.MaxPageLimit})
	if err != nil {
		return err
	}
	label := c.Label
	if label == "" {
		label = promptd.LatestLabel
	}
	var written, skipped []string
	for _, p := range prompts {
		v, err := cl.GetVersion(ctx, p.Name, client.VersionSelector{Label: label})
		if client.IsNotFound(err) && c.Label != "" {
			skipped = append(skipped, p.Name)
			continue
		}
		if err != nil {
			return err
		}
		rel, content, err := encodePromptFile(v)
		if err != nil {
			return err
		}
		path := filepath.Join(c.Dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return err
		}
		// a prompt whose type changed leaves no file of its other type behind
		for _, ext := range []string{textExt, chatExt} {
			if twin := filepath.Join(c.Dir, filepath.FromSlash(p.Name+ext)); twin != path {
				if err := os.Remove(twin); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
		written = append(written, rel)
	}
	if f.json() {
		return writeJSON(e.stdout, map[string]any{"written": nonNilStrings(written), "skipped": nonNilStrings(skipped)})
	}
	for _, w := range written {
		fmt.Fprintf(e.stdout, "wrote %s\n", w)
	}
	for _, s := range skipped {
		fmt.Fprintf(e.stdout, "skipped %s (no version labelled %s)\n", s, c.Label)
	}
	_, err = fmt.Fprintf(e.stdout, "%d prompt(s) written to %s\n", len(written), c.Dir)
	return err
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type promptsPushCmd struct {
	Dir     string   `arg:"" type:"existingdir" help:"The directory of prompt files."`
	Labels  []string `name:"label" help:"Put this label on every new version (repeatable), besides the file's labels."`
	DryRun  bool     `name:"dry-run" help:"Print the plan and change nothing."`
	Message string   `name:"message" short:"m" help:"The commit message of the new versions (default: pushed from files)."`
}

// pushStep is what push does to one prompt.
type pushStep struct {
	Action  string   `json:"action"` // create, update, label, tag, unchanged
	Name    string   `json:"name"`
	File    string   `json:"file"`
	From    int      `json:"from,omitempty"`    // the latest version before
	Labels  []string `json:"labels,omitempty"`  // labels put on
	Tags    []string `json:"tags,omitempty"`    // the tags set
	Version int      `json:"version,omitempty"` // the version created or labelled (after applying)

	file   *promptFile
	latest *promptd.Version
}

func (c *promptsPushCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	files, err := readPromptDir(c.Dir)
	if err != nil {
		return err
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	plan, err := c.plan(ctx, cl, files)
	if err != nil {
		return err
	}
	if !f.json() {
		printPlan(e, plan, c.DryRun)
	}
	if !c.DryRun {
		for _, st := range plan {
			if err := c.apply(ctx, cl, st); err != nil {
				return fmt.Errorf("%s (%s): %w", st.Name, st.File, err)
			}
			if !f.json() && st.Action != "unchanged" {
				fmt.Fprintf(e.stdout, "  done  %s %s\n", st.Action, st.Name)
			}
		}
	}
	if f.json() {
		return writeJSON(e.stdout, map[string]any{"dryRun": c.DryRun, "steps": plan})
	}
	return nil
}

// plan compares each file with its prompt's latest version.
func (c *promptsPushCmd) plan(ctx context.Context, cl *client.Client, files []*promptFile) ([]*pushStep, error) {
	plan := make([]*pushStep, 0, len(files))
	for _, pf := range files {
		st := &pushStep{Name: pf.Name, File: pf.Path, file: pf}
		v, err := cl.GetVersion(ctx, pf.Name, client.VersionSelector{Label: promptd.LatestLabel})
		switch {
		case client.IsNotFound(err):
			st.Action, st.Labels = "create", pf.missingLabels(&promptd.Version{}, c.Labels)
		case err != nil:
			return nil, err
		case !pf.sameContent(v):
			st.Action, st.From, st.latest = "update", v.Number, v
			st.Labels = pf.missingLabels(&promptd.Version{}, c.Labels)
		default:
			st.From, st.latest = v.Number, v
			st.Labels = pf.missingLabels(v, nil)
			switch {
			case len(st.Labels) > 0:
				st.Action = "label"
			case !sameSet(pf.Tags, v.Tags):
				st.Action = "tag"
			default:
				st.Action = "unchanged"
			}
		}
		if st.Action != "unchanged" && !sameSet(pf.Tags, tagsOf(st.latest)) {
			st.Tags = nonNilStrings(pf.Tags)
		}
		plan = append(plan, st)
	}
	return plan, nil
}

func tagsOf(v *promptd.Version) []string {
	if v == nil {
		return nil
	}
	return v.Tags
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func printPlan(e *env, plan []*pushStep, dryRun bool) {
	counts := map[string]int{}
	for _, st := range plan {
		counts[st.Action]++
	}
	head := "plan"
	if dryRun {
		head = "plan (dry run: nothing is changed)"
	}
	fmt.Fprintf(e.stdout, "%s: %d new, %d updated, %d labelled, %d retagged, %d unchanged\n", head,
		counts["create"], counts["update"], counts["label"], counts["tag"], counts["unchanged"])
	for _, st := range plan {
		var detail string
		switch st.Action {
		case "create":
			detail = "new prompt, v1"
		case "update":
			detail = fmt.Sprintf("content or config changed: v%d → v%d", st.From, st.From+1)
		case "label":
			detail = fmt.Sprintf("v%d", st.From)
		case "tag":
			detail = fmt.Sprintf("tags → %s", orDash(strings.Join(st.Tags, ",")))
		default:
			continue
		}
		if len(st.Labels) > 0 {
			detail += " +" + strings.Join(st.Labels, " +")
		}
		fmt.Fprintf(e.stdout, "  %-7s %s  (%s)\n", st.Action, st.Name, detail)
	}
}

func (c *promptsPushCmd) apply(ctx context.Context, cl *client.Client, st *pushStep) error {
	switch st.Action {
	case "create", "update":
		in, err := st.file.createInput()
		if err != nil {
			return err
		}
		msg := c.Message
		if msg == "" {
			msg = "pushed from " + st.File
		}
		v, err := cl.CreateVersion(ctx, client.CreateVersionRequest{
			Name: in.Name, Type: in.Type, Prompt: in.Prompt, Config: in.Config, Labels: st.Labels, Tags: in.Tags, CommitMessage: msg,
		})
		if err != nil {
			return err
		}
		st.Version = v.Number
	case "label":
		v, err := cl.SetLabels(ctx, st.Name, st.latest.Number, append(slices.Clone(st.latest.Labels), st.Labels...))
		if err != nil {
			return err
		}
		st.Version = v.Number
		if st.Tags != nil {
			tags := st.Tags
			if _, err := cl.UpdatePrompt(ctx, st.Name, client.UpdatePromptRequest{Tags: &tags}); err != nil {
				return err
			}
		}
	case "tag":
		tags := st.Tags
		if _, err := cl.UpdatePrompt(ctx, st.Name, client.UpdatePromptRequest{Tags: &tags}); err != nil {
			return err
		}
	}
	return nil
}
