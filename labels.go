package promptd

import (
	"github.com/promptd/promptd/webhook"
	"maps"
	"slices"
)

// LabelMap maps each label of a prompt to the number of the version that carries it. A label
// sits on at most one version, which the map's shape guarantees.
type LabelMap map[string]int

// Of returns the labels that version n carries, sorted.
func (m LabelMap) Of(n int) []string {
	var out []string
	for l, v := range m {
		if v == n {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// WithNewVersion returns the labels after version n is created with the given labels: each
// moves to n, and so does LatestLabel. labels must be normalized.
func (m LabelMap) WithNewVersion(n int, labels []string) LabelMap {
	next := maps.Clone(m)
	if next == nil {
		next = LabelMap{}
	}
	for _, l := range labels {
		next[l] = n
	}
	next[LatestLabel] = n
	return next
}

// WithLabelsSet returns the labels after version n's labels are set to exactly labels: labels
// it had and that are not listed leave it, listed labels move to it from wherever they were.
// LatestLabel cannot be set or removed by hand: listing it is allowed only when n already
// carries it, and it stays on n whether listed or not. labels must be normalized; field names
// the request field for errors.
func (m LabelMap) WithLabelsSet(field string, n int, labels []string) (LabelMap, error) {
	next := maps.Clone(m)
	if next == nil {
		next = LabelMap{}
	}
	isLatest := m[LatestLabel] == n
	if slices.Contains(labels, LatestLabel) && !isLatest {
		return nil, Invalid(field, "%q is maintained by promptd (it is always on the highest version) and cannot be set by hand", LatestLabel)
	}
	for l, v := range m {
		if v == n && l != LatestLabel && !slices.Contains(labels, l) {
			delete(next, l)
		}
	}
	for _, l := range labels {
		next[l] = n
	}
	return next, nil
}

// WithVersionDeleted returns the labels after version n is deleted: its labels are gone, and
// if it carried LatestLabel, that moves to newLatest (0 when no version is left).
func (m LabelMap) WithVersionDeleted(n, newLatest int) LabelMap {
	next := LabelMap{}
	for l, v := range m {
		if v != n {
			next[l] = v
		}
	}
	if m[LatestLabel] == n && newLatest > 0 {
		next[LatestLabel] = newLatest
	}
	return next
}

// Changes lists what one API call changed on one version; it is the "changes" object of
// prompt events. Name is set only on prompt.renamed events.
type Changes = webhook.Changes

// NameChange is a rename: the prompt's name before and after.
type NameChange = webhook.NameChange

// NoChanges returns a Changes with every list empty (not null in JSON).
func NoChanges() *Changes {
	return &Changes{LabelsAdded: []string{}, LabelsRemoved: []string{}, TagsAdded: []string{}, TagsRemoved: []string{}}
}

// LabelChanges returns, for every version whose labels differ between before and after, what
// it gained and lost, and where moved labels came from and went to (LabelsMovedFrom,
// LabelsMovedTo). Versions without a change are absent.
func LabelChanges(before, after LabelMap) map[int]*Changes {
	out := map[int]*Changes{}
	get := func(n int) *Changes {
		if out[n] == nil {
			out[n] = NoChanges()
		}
		return out[n]
	}
	for l, v := range after {
		if before[l] != v {
			c := get(v)
			c.LabelsAdded = append(c.LabelsAdded, l)
			if from, ok := before[l]; ok {
				if c.LabelsMovedFrom == nil {
					c.LabelsMovedFrom = map[string]int{}
				}
				c.LabelsMovedFrom[l] = from
			}
		}
	}
	for l, v := range before {
		if after[l] != v {
			c := get(v)
			c.LabelsRemoved = append(c.LabelsRemoved, l)
			if to, ok := after[l]; ok {
				if c.LabelsMovedTo == nil {
					c.LabelsMovedTo = map[string]int{}
				}
				c.LabelsMovedTo[l] = to
			}
		}
	}
	for _, c := range out {
		slices.Sort(c.LabelsAdded)
		slices.Sort(c.LabelsRemoved)
	}
	return out
}

// TagChanges returns the tags in after and not in before, and those in before and not in
// after; both inputs must be normalized (sorted, no duplicates).
func TagChanges(before, after []string) (added, removed []string) {
	added, removed = []string{}, []string{}
	for _, t := range after {
		if _, found := slices.BinarySearch(before, t); !found {
			added = append(added, t)
		}
	}
	for _, t := range before {
		if _, found := slices.BinarySearch(after, t); !found {
			removed = append(removed, t)
		}
	}
	return added, removed
}

// VersionsToNotify returns, in ascending order, the versions that get a
// prompt-version.updated event for one call: those whose labels changed, and, when the
// prompt's tags changed, every version that carried a label before or after the call (the
// live versions; unlabelled old versions are not announced). exclude (e.g. a version just
// created or deleted, which gets its own event) is left out.
func VersionsToNotify(labelChanges map[int]*Changes, tagsChanged bool, before, after LabelMap, exclude int) []int {
	set := map[int]bool{}
	for n := range labelChanges {
		set[n] = true
	}
	if tagsChanged {
		for _, n := range before {
			set[n] = true
		}
		for _, n := range after {
			set[n] = true
		}
	}
	delete(set, exclude)
	delete(set, 0)
	return slices.Sorted(maps.Keys(set))
}
