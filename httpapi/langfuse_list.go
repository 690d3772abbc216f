package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/promptd/promptd"
)

// Langfuse's paging of GET /api/public/v2/prompts.
const (
	langfuseDefaultLimit = 10
	langfuseMaxLimit     = 100
)

// langfusePromptMeta is one prompt in Langfuse's prompt list (its PromptMeta type).
type langfusePromptMeta struct {
	Name          string             `json:"name"`
	Type          promptd.PromptType `json:"type"`
	Versions      []int              `json:"versions"`
	Labels        []string           `json:"labels"`
	Tags          []string           `json:"tags"`
	LastUpdatedAt time.Time          `json:"lastUpdatedAt"`
	LastConfig    json.RawMessage    `json:"lastConfig"`
}

// langfusePageMeta is Langfuse's page information.
type langfusePageMeta struct {
	Page       int `json:"page"`
	Limit      int `json:"limit"`
	TotalPages int `json:"totalPages"`
	TotalItems int `json:"totalItems"`
}

// langfusePromptList is the body of GET /api/public/v2/prompts. Pagination repeats Meta, as
// Langfuse does for its older clients.
type langfusePromptList struct {
	Data       []langfusePromptMeta `json:"data"`
	Meta       langfusePageMeta     `json:"meta"`
	Pagination langfusePageMeta     `json:"pagination"`
}

// langfuseListQuery is what GET /api/public/v2/prompts filters on, as in Langfuse: a
// prompt is listed when one of its versions matches every filter given, and its versions,
// labels, type and config are those of its matching versions.
type langfuseListQuery struct {
	name, label, tag string
	version          int
	from, to         time.Time // updatedAt bounds: inclusive, exclusive; zero = none
	page, limit      int
}

// parseLangfuseListQuery reads and checks the query parameters.
func parseLangfuseListQuery(q url.Values) (langfuseListQuery, error) {
	lq := langfuseListQuery{name: q.Get("name"), label: q.Get("label"), tag: q.Get("tag")}
	var err error
	if lq.version, err = langfuseIntParam("query.version", q.Get("version"), 0); err != nil {
		return lq, err
	}
	if lq.page, err = langfuseIntParam("query.page", q.Get("page"), 1); err != nil {
		return lq, err
	}
	if lq.page < 1 {
		return lq, promptd.Invalid("query.page", "must be at least 1, got %d", lq.page)
	}
	if lq.limit, err = langfuseIntParam("query.limit", q.Get("limit"), langfuseDefaultLimit); err != nil {
		return lq, err
	}
	if lq.limit < 1 || lq.limit > langfuseMaxLimit {
		return lq, promptd.Invalid("query.limit", "must be between 1 and %d, got %d", langfuseMaxLimit, lq.limit)
	}
	for _, b := range []struct {
		field string
		t     *time.Time
	}{{"fromUpdatedAt", &lq.from}, {"toUpdatedAt", &lq.to}} {
		if s := q.Get(b.field); s != "" {
			if *b.t, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return lq, promptd.Invalid("query."+b.field, "must be an ISO 8601 date-time with an offset, such as 2026-01-31T12:00:00Z, got %q", s)
			}
		}
	}
	return lq, nil
}

// versionLevel reports whether a filter looks at single versions, which the store's prompt
// list cannot do: then every candidate's versions are read to count the matches.
func (lq langfuseListQuery) versionLevel() bool {
	return lq.version != 0 || !lq.from.IsZero() || !lq.to.IsZero()
}

// matches reports whether version v passes the version-level filters.
func (lq langfuseListQuery) matches(v *promptd.Version) bool {
	return (lq.version == 0 || v.Number == lq.version) &&
		(lq.label == "" || slices.Contains(v.Labels, lq.label)) &&
		(lq.tag == "" || slices.Contains(v.Tags, lq.tag)) &&
		(lq.from.IsZero() || !v.UpdatedAt.Before(lq.from)) &&
		(lq.to.IsZero() || v.UpdatedAt.Before(lq.to))
}

// langfuseListPrompts serves GET /api/public/v2/prompts: the project's prompts by name, a
// page at a time (page, limit), filtered by name (exact), label, tag, version and
// fromUpdatedAt/toUpdatedAt.
//
// promptd's store pages by cursor; this reads the names of all prompts passing the
// prompt-level filters (name, label, tag) to count them and find the page, then the
// versions of the prompts on the page. A version-level filter (version, updatedAt) reads
// the versions of every candidate.
func (s *server) langfuseListPrompts(w http.ResponseWriter, r *http.Request, key *promptd.APIKey) error {
	lq, err := parseLangfuseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	ctx := r.Context()
	candidates, err := s.langfuseCandidates(ctx, key.ProjectID, lq)
	if err != nil {
		return err
	}

	var metas []langfusePromptMeta
	first := (lq.page - 1) * lq.limit
	if lq.versionLevel() {
		// Every candidate must be summarised to know which are listed at all.
		all := make([]langfusePromptMeta, 0, len(candidates))
		for _, p := range candidates {
			m, ok, err := s.langfuseSummarize(ctx, key.ProjectID, p, lq)
			if err != nil {
				return err
			}
			if ok {
				all = append(all, m)
			}
		}
		metas = all
	} else {
		metas = make([]langfusePromptMeta, len(candidates))
		for i, p := range candidates {
			metas[i] = langfusePromptMeta{Name: p.Name}
		}
	}

	total := len(metas)
	page := metas[min(first, total):min(first+lq.limit, total)]
	if !lq.versionLevel() {
		for i := range page {
			p := candidates[first+i]
			m, ok, err := s.langfuseSummarize(ctx, key.ProjectID, p, lq)
			if err != nil {
				return err
			}
			if !ok { // its versions changed since the prompt was listed: list it with none
				m = langfusePromptMeta{Name: p.Name, Versions: []int{}, Labels: []string{}, Tags: nonNil(p.Tags), LastUpdatedAt: p.UpdatedAt, LastConfig: json.RawMessage(`{}`), Type: promptd.TextPrompt}
			}
			page[i] = m
		}
	}
	meta := langfusePageMeta{Page: lq.page, Limit: lq.limit, TotalItems: total, TotalPages: (total + lq.limit - 1) / lq.limit}
	writeLangfuseJSON(w, http.StatusOK, langfusePromptList{Data: slices.Clip(page), Meta: meta, Pagination: meta})
	return nil
}

// langfuseCandidates returns, ordered by name, the prompts that pass the prompt-level
// filters: name (exact), a version carrying label, tag.
func (s *server) langfuseCandidates(ctx context.Context, projectID string, lq langfuseListQuery) ([]promptd.Prompt, error) {
	f := promptd.PromptFilter{PageRequest: promptd.PageRequest{Limit: promptd.MaxPageLimit}, Name: lq.name, Label: lq.label, Tag: lq.tag}
	var out []promptd.Prompt
	for {
		page, err := s.store.ListPrompts(ctx, projectID, f)
		if err != nil {
			return nil, err
		}
		for _, p := range page.Items {
			if lq.name == "" || p.Name == lq.name { // the store's name filter is a prefix
				out = append(out, p)
			}
		}
		if page.NextCursor == "" {
			return out, nil
		}
		f.Cursor = page.NextCursor
	}
}

// langfuseSummarize reads the versions of p and summarises those that match lq; ok is
// false when none does.
func (s *server) langfuseSummarize(ctx context.Context, projectID string, p promptd.Prompt, lq langfuseListQuery) (m langfusePromptMeta, ok bool, err error) {
	m = langfusePromptMeta{Name: p.Name, Versions: []int{}, Labels: []string{}, Tags: nonNil(p.Tags)}
	var newest *promptd.Version
	pr := promptd.PageRequest{Limit: promptd.MaxPageLimit}
	for {
		page, err := s.store.ListVersions(ctx, projectID, p.Name, pr)
		if promptd.ErrorKind(err) == promptd.ENOTFOUND { // deleted meanwhile
			return m, false, nil
		}
		if err != nil {
			return m, false, err
		}
		for i := range page.Items {
			v := &page.Items[i]
			if !lq.matches(v) {
				continue
			}
			m.Versions = append(m.Versions, v.Number)
			m.Labels = append(m.Labels, v.Labels...)
			if v.UpdatedAt.After(m.LastUpdatedAt) {
				m.LastUpdatedAt = v.UpdatedAt
			}
			if newest == nil || v.Number > newest.Number {
				newest = v
			}
		}
		if page.NextCursor == "" {
			break
		}
		pr.Cursor = page.NextCursor
	}
	if newest == nil {
		return m, false, nil
	}
	slices.Sort(m.Versions)
	slices.Sort(m.Labels)
	m.Labels = slices.Compact(m.Labels)
	m.Type, m.LastConfig = newest.Type, newest.Config
	if len(m.LastConfig) == 0 {
		m.LastConfig = json.RawMessage(`{}`)
	}
	return m, true, nil
}
