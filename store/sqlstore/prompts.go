package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/promptd/promptd"
)

// change is one write transaction on one prompt: the locked prompt row, the clock reading
// and actor of the call, and the events the call has made so far.
type change struct {
	s      *Store
	ctx    context.Context
	tx     *writeTx
	p      *promptRow
	actor  promptd.Actor
	now    time.Time
	events []*promptd.Event
	// formerNames are the prompt's former names, loaded by the changes that delete: their
	// deletion events carry them (promptd.Subject.FormerNames).
	formerNames []string
}

// emit makes an event about version v and queues it for insertion when the change ends.
func (c *change) emit(typ string, v *promptd.Version, changes *promptd.Changes) error {
	ev, err := promptd.NewPromptEvent(typ, v, changes, c.actor, c.now)
	if err != nil {
		return err
	}
	if typ == promptd.EventVersionDeleted || typ == promptd.EventPromptDeleted {
		ev.Subject.FormerNames = c.formerNames
	}
	c.events = append(c.events, ev)
	return nil
}

// loadFormerNames loads the prompt's former names into c, for the deletion events to come.
func (c *change) loadFormerNames() error {
	var raw string
	if err := c.tx.QueryRowContext(c.ctx, `SELECT former_names FROM prompts WHERE id = $1`, c.p.ID).Scan(&raw); err != nil {
		return fmt.Errorf("loading the prompt's former names: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &c.formerNames); err != nil {
		return fmt.Errorf("prompt %s: decoding former names: %w", c.p.ID, err)
	}
	return nil
}

// recordFormerName adds old, the name the prompt was just renamed from, to its former names:
// once, without its new name, keeping the most recent promptd.MaxFormerNames.
func (c *change) recordFormerName(old string) error {
	if err := c.loadFormerNames(); err != nil {
		return err
	}
	names := slices.DeleteFunc(c.formerNames, func(n string) bool { return n == old || n == c.p.Name })
	names = append(names, old)
	if len(names) > promptd.MaxFormerNames {
		names = names[len(names)-promptd.MaxFormerNames:]
	}
	b, err := json.Marshal(names)
	if err != nil {
		return err
	}
	if _, err := c.tx.ExecContext(c.ctx, `UPDATE prompts SET former_names = $1 WHERE id = $2`, string(b), c.p.ID); err != nil {
		return fmt.Errorf("recording the former name: %w", err)
	}
	c.formerNames = names
	return nil
}

// finish inserts the queued events; the caller's transaction commits them with the change.
func (c *change) finish() error {
	return c.s.insertEvents(c.ctx, c.tx, c.events)
}

// savePrompt writes the prompt row's mutable columns, stamping it updated now.
func (c *change) savePrompt() error {
	c.p.UpdatedAt = c.now
	_, err := c.tx.ExecContext(c.ctx,
		`UPDATE prompts SET name = $1, tags = $2, last_version = $3, updated_at = $4 WHERE id = $5`,
		c.p.Name, encodeTags(c.p.Tags), c.p.LastVersion, millis(c.now), c.p.ID)
	if err != nil {
		if c.s.d.IsUniqueViolation(err) {
			return nameTaken(c.p.Name)
		}
		return fmt.Errorf("updating prompt: %w", err)
	}
	return nil
}

func nameTaken(name string) error {
	return promptd.Errorf(promptd.ECONFLICT, "a prompt named %q already exists", name)
}

// writeLabels writes the difference between the label maps before and after to the labels
// table. Labels are written in sorted order so that the statements are deterministic.
func (c *change) writeLabels(before, after promptd.LabelMap) error {
	for _, l := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[l]; ok {
			continue
		}
		if _, err := c.tx.ExecContext(c.ctx, `DELETE FROM labels WHERE prompt_id = $1 AND label = $2`, c.p.ID, l); err != nil {
			return fmt.Errorf("removing label %q: %w", l, err)
		}
	}
	for _, l := range slices.Sorted(maps.Keys(after)) {
		n := after[l]
		if old, ok := before[l]; ok && old == n {
			continue
		}
		if _, err := c.tx.ExecContext(c.ctx,
			`INSERT INTO labels (prompt_id, label, version) VALUES ($1, $2, $3)
			 ON CONFLICT (prompt_id, label) DO UPDATE SET version = excluded.version`,
			c.p.ID, l, n); err != nil {
			return fmt.Errorf("setting label %q: %w", l, err)
		}
	}
	return nil
}

// notifyUpdated stamps each version in numbers updated now and emits prompt-version.updated
// for it, with the labels in labels and the changes changesOf returns.
func (c *change) notifyUpdated(numbers []int, labels promptd.LabelMap, changesOf func(n int) *promptd.Changes) error {
	for _, n := range numbers {
		v, err := scanVersion(c.tx.QueryRowContext(c.ctx,
			`UPDATE versions SET updated_at = $1 WHERE prompt_id = $2 AND number = $3 RETURNING `+versionColumns,
			millis(c.now), c.p.ID, n))
		if err != nil {
			return fmt.Errorf("touching version %d: %w", n, err)
		}
		if err := c.emit(promptd.EventVersionUpdated, c.p.version(v, labels), changesOf(n)); err != nil {
			return err
		}
	}
	return nil
}

// changesFunc returns, for each version, the label changes the call made on it plus, when
// tags changed, the prompt's tag changes (every announced version carries them).
func changesFunc(labelChanges map[int]*promptd.Changes, tagsAdded, tagsRemoved []string) func(n int) *promptd.Changes {
	return func(n int) *promptd.Changes {
		c := promptd.NoChanges()
		if lc := labelChanges[n]; lc != nil {
			c.LabelsAdded, c.LabelsRemoved = lc.LabelsAdded, lc.LabelsRemoved
			c.LabelsMovedFrom, c.LabelsMovedTo = lc.LabelsMovedFrom, lc.LabelsMovedTo
		}
		c.TagsAdded, c.TagsRemoved = tagsAdded, tagsRemoved
		return c
	}
}

// lockOrCreatePrompt locks the named prompt, creating it when it does not exist; created
// reports that it did. Two transactions creating the same prompt at once are safe: the
// second waits for the first (ON CONFLICT DO NOTHING), then locks the row the first made.
func (s *Store) lockOrCreatePrompt(ctx context.Context, tx *writeTx, projectID, name string, now time.Time) (p *promptRow, created bool, err error) {
	p, err = s.getPrompt(ctx, tx, projectID, name, true)
	if promptd.ErrorKind(err) != promptd.ENOTFOUND {
		return p, false, err
	}
	id := newID()
	// The project's counter gives the prompt its number; a number taken by a create that
	// loses the race below stays unused, like a deleted prompt's.
	var number int
	if err := tx.QueryRowContext(ctx,
		`UPDATE projects SET last_prompt_number = last_prompt_number + 1 WHERE id = $1 RETURNING last_prompt_number`,
		projectID).Scan(&number); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, promptd.Errorf(promptd.ENOTFOUND, "project %q not found", projectID)
		}
		return nil, false, fmt.Errorf("numbering the prompt: %w", err)
	}
	var got string
	err = tx.QueryRowContext(ctx,
		`INSERT INTO prompts (id, project_id, name, tags, last_version, created_at, updated_at, number)
		 VALUES ($1, $2, $3, '[]', 0, $4, $4, $5)
		 ON CONFLICT (project_id, name) DO NOTHING RETURNING id`,
		id, projectID, name, millis(now), number).Scan(&got)
	switch {
	case err == nil:
		return &promptRow{ID: id, ProjectID: projectID, Name: name, Tags: []string{}, Number: number, CreatedAt: now, UpdatedAt: now}, true, nil
	case errors.Is(err, sql.ErrNoRows): // created meanwhile by a transaction that has committed
		p, err = s.getPrompt(ctx, tx, projectID, name, true)
		return p, false, err
	default:
		return nil, false, fmt.Errorf("creating prompt: %w", err)
	}
}

// CreateVersion creates a version of in.Name, creating the prompt when it is new. See
// promptd.PromptService.
func (s *Store) CreateVersion(ctx context.Context, projectID string, actor promptd.Actor, in promptd.CreateVersionInput) (*promptd.Version, error) {
	if err := in.Normalize(); err != nil {
		return nil, err
	}
	var out *promptd.Version
	err := s.write(ctx, "create version", func(tx *writeTx, now time.Time) error {
		p, created, err := s.lockOrCreatePrompt(ctx, tx, projectID, in.Name, now)
		if err != nil {
			return err
		}
		c := &change{s: s, ctx: ctx, tx: tx, p: p, actor: actor, now: now}
		before, err := getLabels(ctx, tx, p.ID)
		if err != nil {
			return err
		}

		tags := p.Tags
		if in.Tags != nil {
			tags = in.Tags
		}
		tagsAdded, tagsRemoved := promptd.TagChanges(p.Tags, tags)
		tagsChanged := len(tagsAdded)+len(tagsRemoved) > 0
		config := in.Config
		if config == nil {
			if config, err = latestConfig(ctx, tx, p.ID); err != nil {
				return err
			}
		}
		n := p.LastVersion + 1
		p.Tags, p.LastVersion = slices.Clone(tags), n
		if err := c.savePrompt(); err != nil {
			return err
		}

		v := &versionRow{
			ID: newID(), Number: n, Type: in.Type, Prompt: in.Prompt, Config: config,
			CommitMessage: in.CommitMessage, CreatedBy: actor, CreatedAt: now, UpdatedAt: now,
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO versions (id, prompt_id, number, type, content, config, commit_message, created_by_key_id, created_by_name, created_at, updated_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			v.ID, p.ID, n, string(v.Type), string(v.Prompt), string(v.Config), v.CommitMessage,
			actor.APIKeyID, actor.Name, millis(now), millis(now)); err != nil {
			return fmt.Errorf("inserting version: %w", err)
		}

		after := before.WithNewVersion(n, in.Labels)
		if _, err := c.guardLabels(before, after, promptd.LabelOverride{}); err != nil {
			return err
		}
		if err := c.writeLabels(before, after); err != nil {
			return err
		}
		labelChanges := promptd.LabelChanges(before, after)
		changesOf := changesFunc(labelChanges, tagsAdded, tagsRemoved)

		out = p.version(v, after)
		if created {
			if err := c.emit(promptd.EventPromptCreated, out, nil); err != nil {
				return err
			}
		}
		if err := c.emit(promptd.EventVersionCreated, out, changesOf(n)); err != nil {
			return err
		}
		others := promptd.VersionsToNotify(labelChanges, tagsChanged, before, after, n)
		if err := c.notifyUpdated(others, after, changesOf); err != nil {
			return err
		}
		if err := c.labelsMoved(before, after); err != nil {
			return err
		}
		return c.finish()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// latestConfig is the config of the prompt's latest version, which a new version given no
// config carries over; {} when the prompt has no version.
func latestConfig(ctx context.Context, tx *writeTx, promptID string) (json.RawMessage, error) {
	var config string
	err := tx.QueryRowContext(ctx,
		`SELECT config FROM versions WHERE prompt_id = $1 ORDER BY number DESC LIMIT 1`, promptID).Scan(&config)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return json.RawMessage(`{}`), nil
	case err != nil:
		return nil, fmt.Errorf("reading the latest version's config: %w", err)
	}
	return json.RawMessage(config), nil
}

// SetLabels sets the labels of one version, moving each from the version that had it. See
// promptd.PromptService.
func (s *Store) SetLabels(ctx context.Context, projectID string, actor promptd.Actor, name string, version int, labels []string) (*promptd.Version, error) {
	return s.setLabels(ctx, projectID, actor, name, version, labels, promptd.LabelOverride{})
}

// setLabels is SetLabels and, with o.Force, ForceLabels: protected labels move only with
// o.Force, and then the events record the override.
func (s *Store) setLabels(ctx context.Context, projectID string, actor promptd.Actor, name string, version int, labels []string, o promptd.LabelOverride) (*promptd.Version, error) {
	const field = "body.labels"
	labels, err := promptd.NormalizeLabels(field, labels)
	if err != nil {
		return nil, err
	}
	var out *promptd.Version
	err = s.write(ctx, "set labels", func(tx *writeTx, now time.Time) error {
		p, v, before, err := s.lockVersion(ctx, tx, projectID, name, version)
		if err != nil {
			return err
		}
		c := &change{s: s, ctx: ctx, tx: tx, p: p, actor: actor, now: now}
		after, err := before.WithLabelsSet(field, version, labels)
		if err != nil {
			return err
		}
		labelChanges := promptd.LabelChanges(before, after)
		if len(labelChanges) == 0 { // nothing changes: no write, no event
			out = p.version(v, before)
			return nil
		}
		forced, err := c.guardLabels(before, after, o)
		if err != nil {
			return err
		}
		if err := c.savePrompt(); err != nil {
			return err
		}
		if err := c.writeLabels(before, after); err != nil {
			return err
		}
		changesOf := changesFunc(labelChanges, []string{}, []string{})
		if len(forced) > 0 {
			changesOf = withOverride(changesOf, o)
		}
		if err := c.notifyUpdated(promptd.VersionsToNotify(labelChanges, false, before, after, 0), after, changesOf); err != nil {
			return err
		}
		// notifyUpdated stamped this version (its labels changed); reload for the result.
		if v, err = getVersion(ctx, tx, p, version); err != nil {
			return err
		}
		out = p.version(v, after)
		if err := c.emitOverrides(out, forced, before, after, o); err != nil {
			return err
		}
		if err := c.labelsMoved(before, after); err != nil {
			return err
		}
		return c.finish()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdatePrompt renames the prompt and/or replaces its tags. See promptd.PromptService.
func (s *Store) UpdatePrompt(ctx context.Context, projectID string, actor promptd.Actor, name string, upd promptd.PromptUpdate) (*promptd.Prompt, error) {
	if upd.Name != nil {
		if err := promptd.ValidateName("body.name", *upd.Name); err != nil {
			return nil, err
		}
	}
	var newTags []string
	if upd.Tags != nil {
		var err error
		if newTags, err = promptd.NormalizeTags("body.tags", *upd.Tags); err != nil {
			return nil, err
		}
	}
	var out *promptd.Prompt
	err := s.write(ctx, "update prompt", func(tx *writeTx, now time.Time) error {
		p, err := s.getPrompt(ctx, tx, projectID, name, true)
		if err != nil {
			return err
		}
		c := &change{s: s, ctx: ctx, tx: tx, p: p, actor: actor, now: now}
		labels, err := getLabels(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		count, err := countVersions(ctx, tx, p.ID)
		if err != nil {
			return err
		}

		oldName := p.Name
		renamed := upd.Name != nil && *upd.Name != p.Name
		if renamed {
			var exists int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM prompts WHERE project_id = $1 AND name = $2`, projectID, *upd.Name).Scan(&exists)
			switch {
			case err == nil:
				return nameTaken(*upd.Name)
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("checking the new name: %w", err)
			}
		}
		tagsAdded, tagsRemoved := []string{}, []string{}
		if upd.Tags != nil {
			tagsAdded, tagsRemoved = promptd.TagChanges(p.Tags, newTags)
		}
		tagsChanged := len(tagsAdded)+len(tagsRemoved) > 0
		if !renamed && !tagsChanged { // nothing changes: no write, no event
			out = p.prompt(labels, count)
			return nil
		}

		if renamed {
			p.Name = *upd.Name
		}
		if tagsChanged {
			p.Tags = newTags
		}
		if err := c.savePrompt(); err != nil { // a rename racing with a create fails here
			return err
		}
		if renamed {
			if err := c.recordFormerName(oldName); err != nil {
				return err
			}
		}

		if renamed {
			if latest := labels[promptd.LatestLabel]; latest > 0 {
				v, err := getVersion(ctx, tx, p, latest)
				if err != nil {
					return err
				}
				if tagsChanged {
					// The latest version is labelled, so it gets an updated event below,
					// which stamps it now; the snapshot shows the state after the call.
					v.UpdatedAt = now
				}
				ch := promptd.NoChanges()
				ch.Name = &promptd.NameChange{From: oldName, To: p.Name}
				if err := c.emit(promptd.EventPromptRenamed, p.version(v, labels), ch); err != nil {
					return err
				}
			}
		}
		if tagsChanged {
			numbers := promptd.VersionsToNotify(nil, true, labels, labels, 0)
			if err := c.notifyUpdated(numbers, labels, changesFunc(nil, tagsAdded, tagsRemoved)); err != nil {
				return err
			}
		}
		out = p.prompt(labels, count)
		return c.finish()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteVersion deletes one version; deleting the last one deletes the prompt. See
// promptd.PromptService.
func (s *Store) DeleteVersion(ctx context.Context, projectID string, actor promptd.Actor, name string, version int) error {
	return s.write(ctx, "delete version", func(tx *writeTx, now time.Time) error {
		p, v, before, err := s.lockVersion(ctx, tx, projectID, name, version)
		if err != nil {
			return err
		}
		c := &change{s: s, ctx: ctx, tx: tx, p: p, actor: actor, now: now}
		if err := c.loadFormerNames(); err != nil {
			return err
		}
		var highest sql.NullInt64
		if err := tx.QueryRowContext(ctx,
			`SELECT MAX(number) FROM versions WHERE prompt_id = $1 AND number <> $2`, p.ID, version).Scan(&highest); err != nil {
			return fmt.Errorf("finding the highest remaining version: %w", err)
		}
		deleted := p.version(v, before) // as it was, with the labels it had
		after := promptd.LabelMap{}
		if highest.Valid {
			after = before.WithVersionDeleted(version, int(highest.Int64))
		}
		if _, err := c.guardLabels(before, after, promptd.LabelOverride{}); err != nil {
			return err
		}
		if err := c.emit(promptd.EventVersionDeleted, deleted, promptd.NoChanges()); err != nil {
			return err
		}
		if err := c.versionDeleted(deleted, after); err != nil {
			return err
		}
		if err := c.labelsMoved(before, after); err != nil {
			return err
		}

		if !highest.Valid { // the last version: the prompt goes with it
			if err := c.emit(promptd.EventPromptDeleted, deleted, nil); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM prompts WHERE id = $1`, p.ID); err != nil {
				return fmt.Errorf("deleting prompt: %w", err)
			}
			return c.finish()
		}

		if err := c.writeLabels(before, after); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM versions WHERE prompt_id = $1 AND number = $2`, p.ID, version); err != nil {
			return fmt.Errorf("deleting version: %w", err)
		}
		if err := c.savePrompt(); err != nil {
			return err
		}
		labelChanges := promptd.LabelChanges(before, after)
		others := promptd.VersionsToNotify(labelChanges, false, before, after, version)
		if err := c.notifyUpdated(others, after, changesFunc(labelChanges, []string{}, []string{})); err != nil {
			return err
		}
		return c.finish()
	})
}

// DeletePrompt deletes the prompt and all its versions. See promptd.PromptService.
func (s *Store) DeletePrompt(ctx context.Context, projectID string, actor promptd.Actor, name string) error {
	return s.write(ctx, "delete prompt", func(tx *writeTx, now time.Time) error {
		p, err := s.getPrompt(ctx, tx, projectID, name, true)
		if err != nil {
			return err
		}
		c := &change{s: s, ctx: ctx, tx: tx, p: p, actor: actor, now: now}
		if err := c.loadFormerNames(); err != nil {
			return err
		}
		labels, err := getLabels(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if _, err := c.guardLabels(labels, promptd.LabelMap{}, promptd.LabelOverride{}); err != nil {
			return err
		}
		versions, err := getVersions(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		for _, v := range versions {
			deleted := p.version(v, labels)
			if err := c.emit(promptd.EventVersionDeleted, deleted, promptd.NoChanges()); err != nil {
				return err
			}
			if err := c.versionDeleted(deleted, promptd.LabelMap{}); err != nil {
				return err
			}
		}
		if len(versions) > 0 {
			last := versions[len(versions)-1]
			if err := c.emit(promptd.EventPromptDeleted, p.version(last, labels), nil); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM prompts WHERE id = $1`, p.ID); err != nil {
			return fmt.Errorf("deleting prompt: %w", err)
		}
		return c.finish()
	})
}

// lockVersion locks the named prompt in tx and loads one of its versions and the prompt's
// labels: the starting point of every change to one version. Returns ENOTFOUND.
func (s *Store) lockVersion(ctx context.Context, tx *writeTx, projectID, name string, version int) (*promptRow, *versionRow, promptd.LabelMap, error) {
	p, err := s.getPrompt(ctx, tx, projectID, name, true)
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := getVersion(ctx, tx, p, version)
	if err != nil {
		return nil, nil, nil, err
	}
	labels, err := getLabels(ctx, tx, p.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, v, labels, nil
}
