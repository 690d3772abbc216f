package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/client"
)

// promptsCmd is `promptd prompts …`.
type promptsCmd struct {
	clientGroup `embed:""`

	List   promptsListCmd   `cmd:"" help:"List prompts."`
	Get    promptsGetCmd    `cmd:"" help:"Show one version of a prompt (production, else latest, by default)."`
	Create promptsCreateCmd `cmd:"" help:"Create a prompt version (the prompt too when it is new)."`
	Label  promptsLabelCmd  `cmd:"" help:"Put labels on a version (each moves from the version that had it), or take them off."`
	Diff   promptsDiffCmd   `cmd:"" help:"Compare two versions of a prompt."`
	Rename promptsRenameCmd `cmd:"" help:"Rename a prompt."`
	Delete promptsDeleteCmd `cmd:"" help:"Delete a prompt, or one of its versions."`
	Pull   promptsPullCmd   `cmd:"" help:"Write prompts as files into a directory (one file per prompt, folders as directories)."`
	Push   promptsPushCmd   `cmd:"" help:"Create versions from the files of a directory where content or config changed."`
}

type promptsListCmd struct {
	Prefix string `name:"prefix" help:"Only prompts whose name starts with this (customer-support/ lists a folder)."`
	Label  string `name:"label" help:"Only prompts with a version carrying this label."`
	Tag    string `name:"tag" help:"Only prompts with this tag."`
}

func (c *promptsListCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	all, err := cl.AllPrompts(ctx, client.ListPromptsOptions{Name: c.Prefix, Label: c.Label, Tag: c.Tag, Limit: promptd.MaxPageLimit})
	if err != nil {
		return err
	}
	if f.json() {
		if all == nil {
			all = []promptd.Prompt{}
		}
		return writeJSON(e.stdout, all)
	}
	rows := make([][]string, 0, len(all))
	for _, p := range all {
		rows = append(rows, []string{p.Name, strconv.Itoa(p.LatestVersion), orDash(formatLabels(p.Labels)), orDash(strings.Join(p.Tags, ",")), ago(p.UpdatedAt)})
	}
	return table(e.stdout, []string{"NAME", "LATEST", "LABELS", "TAGS", "UPDATED"}, rows)
}

// formatLabels lists a prompt's labels as label=version, by name.
func formatLabels(labels map[string]int) string {
	names := make([]string, 0, len(labels))
	for l := range labels {
		names = append(names, l)
	}
	sort.Strings(names)
	for i, l := range names {
		names[i] = l + "=" + strconv.Itoa(labels[l])
	}
	return strings.Join(names, ",")
}

type promptsGetCmd struct {
	Name    string `arg:"" help:"The prompt's name."`
	Label   string `name:"label" short:"l" help:"The version carrying this label."`
	Version int    `name:"version" short:"v" help:"The version with this number."`
}

func (c *promptsGetCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	v, err := cl.GetVersion(ctx, c.Name, client.VersionSelector{Label: c.Label, Version: c.Version})
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, v)
	}
	return printVersion(e.stdout, v)
}

// printVersion shows a version for a person: a header, the content, the config.
func printVersion(w io.Writer, v *promptd.Version) error {
	fmt.Fprintf(w, "%s v%d (%s)  labels: %s  tags: %s\n", v.Name, v.Number, v.Type, orDash(strings.Join(v.Labels, ",")), orDash(strings.Join(v.Tags, ",")))
	if v.CommitMessage != "" {
		fmt.Fprintf(w, "commit: %s\n", v.CommitMessage)
	}
	fmt.Fprintf(w, "created %s by %s\n\n", ago(v.CreatedAt), orDash(v.CreatedBy.Name))
	_, err := fmt.Fprintln(w, promptd.VersionText(v))
	return err
}

type promptsCreateCmd struct {
	Name    string   `arg:"" help:"The prompt's name."`
	Text    string   `name:"text" help:"The text of a text prompt."`
	File    string   `name:"file" type:"existingfile" help:"Read the content from this file (- for stdin): the text, or for --type chat a JSON array of {role, content}."`
	Type    string   `name:"type" enum:"text,chat" default:"text" help:"text or chat."`
	Config  string   `name:"config" help:"The config, a JSON object."`
	Labels  []string `name:"label" help:"Labels to put on the new version (repeatable)."`
	Tags    []string `name:"tag" help:"Replace the prompt's tags (repeatable)."`
	Message string   `name:"message" short:"m" help:"The commit message."`
}

func (c *promptsCreateCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	var content string
	switch {
	case c.Text != "" && c.File != "":
		return &usageError{"give --text or --file, not both"}
	case c.File == "-":
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
		content = string(b)
	case c.File != "":
		b, err := os.ReadFile(c.File)
		if err != nil {
			return err
		}
		content = string(b)
	case c.Text != "":
		content = c.Text
	default:
		return &usageError{"give the content with --text or --file"}
	}
	in := client.CreateVersionRequest{Name: c.Name, Type: promptd.PromptType(c.Type), Labels: c.Labels, Tags: c.Tags, CommitMessage: c.Message}
	if c.Type == "chat" {
		var msgs []promptd.ChatMessage
		if err := json.Unmarshal([]byte(content), &msgs); err != nil {
			return &usageError{fmt.Sprintf("a chat prompt is a JSON array of {role, content}: %v", err)}
		}
		in.Prompt = client.ChatContent(msgs)
	} else {
		in.Prompt = client.TextContent(content)
	}
	if c.Config != "" {
		if !json.Valid([]byte(c.Config)) {
			return &usageError{"--config is not valid JSON"}
		}
		in.Config = json.RawMessage(c.Config)
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	v, err := cl.CreateVersion(ctx, in)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, v)
	}
	_, err = fmt.Fprintf(e.stdout, "created %s v%d  labels: %s\n", v.Name, v.Number, strings.Join(v.Labels, ","))
	return err
}

type promptsLabelCmd struct {
	Name    string   `arg:"" help:"The prompt's name."`
	Version int      `arg:"" help:"The version number."`
	Labels  []string `arg:"" optional:"" help:"Labels to put on the version."`
	Remove  []string `name:"remove" help:"Labels to take off the version (repeatable)."`
}

func (c *promptsLabelCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	if len(c.Labels) == 0 && len(c.Remove) == 0 {
		return &usageError{"name labels to put on the version, or --remove labels to take off"}
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	v, err := cl.GetVersion(ctx, c.Name, client.VersionSelector{Version: c.Version})
	if err != nil {
		return err
	}
	var labels []string
	for _, l := range append(v.Labels, c.Labels...) {
		if !slices.Contains(labels, l) && !slices.Contains(c.Remove, l) {
			labels = append(labels, l)
		}
	}
	v, err = cl.SetLabels(ctx, c.Name, c.Version, labels)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, v)
	}
	_, err = fmt.Fprintf(e.stdout, "%s v%d  labels: %s\n", v.Name, v.Number, orDash(strings.Join(v.Labels, ",")))
	return err
}

type promptsDiffCmd struct {
	Name string `arg:"" help:"The prompt's name."`
	From int    `arg:"" help:"The version compared from."`
	To   int    `arg:"" optional:"" help:"The version compared to; the latest when left out."`
}

func (c *promptsDiffCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	to := c.To
	if to == 0 {
		v, err := cl.GetVersion(ctx, c.Name, client.VersionSelector{Label: promptd.LatestLabel})
		if err != nil {
			return err
		}
		to = v.Number
	}
	d, err := cl.DiffVersions(ctx, c.Name, c.From, to)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, d)
	}
	if d.Identical {
		_, err := fmt.Fprintf(e.stdout, "%s v%d and v%d are identical\n", d.Name, d.From, d.To)
		return err
	}
	_, err = io.WriteString(e.stdout, d.Unified)
	return err
}

type promptsRenameCmd struct {
	Name    string `arg:"" help:"The prompt's name."`
	NewName string `arg:"" help:"Its new name."`
}

func (c *promptsRenameCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	p, err := cl.UpdatePrompt(ctx, c.Name, client.UpdatePromptRequest{Name: &c.NewName})
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, p)
	}
	_, err = fmt.Fprintf(e.stdout, "renamed %s to %s\n", c.Name, p.Name)
	return err
}

type promptsDeleteCmd struct {
	Name    string `arg:"" help:"The prompt's name."`
	Version int    `name:"version" short:"v" help:"Delete only this version."`
}

func (c *promptsDeleteCmd) Run(ctx context.Context, e *env, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	what := c.Name
	if c.Version > 0 {
		err = cl.DeleteVersion(ctx, c.Name, c.Version)
		what += " v" + strconv.Itoa(c.Version)
	} else {
		err = cl.DeletePrompt(ctx, c.Name)
	}
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, map[string]any{"deleted": c.Name, "version": c.Version})
	}
	_, err = fmt.Fprintf(e.stdout, "deleted %s\n", what)
	return err
}
