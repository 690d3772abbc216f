package promptd_test

import (
	"maps"
	"reflect"
	"testing"

	"github.com/promptd/promptd"
)

func TestLabelMapTransitions(t *testing.T) {
	t.Parallel()
	base := promptd.LabelMap{"latest": 3, "production": 2, "staging": 3}
	tests := []struct {
		name    string
		apply   func(promptd.LabelMap) (promptd.LabelMap, error)
		want    promptd.LabelMap
		wantErr string
	}{
		{
			name: "new version takes latest and the given labels",
			apply: func(m promptd.LabelMap) (promptd.LabelMap, error) {
				return m.WithNewVersion(4, []string{"production"}), nil
			},
			want: promptd.LabelMap{"latest": 4, "production": 4, "staging": 3},
		},
		{
			name: "first version of a new prompt",
			apply: func(promptd.LabelMap) (promptd.LabelMap, error) {
				return promptd.LabelMap(nil).WithNewVersion(1, nil), nil
			},
			want: promptd.LabelMap{"latest": 1},
		},
		{
			name: "set moves production from 2 to 1",
			apply: func(m promptd.LabelMap) (promptd.LabelMap, error) {
				return m.WithLabelsSet("body.labels", 1, []string{"production"})
			},
			want: promptd.LabelMap{"latest": 3, "production": 1, "staging": 3},
		},
		{
			name: "set is exact: unlisted labels leave, latest stays",
			apply: func(m promptd.LabelMap) (promptd.LabelMap, error) {
				return m.WithLabelsSet("body.labels", 3, []string{"canary"})
			},
			want: promptd.LabelMap{"latest": 3, "production": 2, "canary": 3},
		},
		{
			name: "latest may be listed on the version that has it",
			apply: func(m promptd.LabelMap) (promptd.LabelMap, error) {
				return m.WithLabelsSet("body.labels", 3, []string{"latest", "staging"})
			},
			want: base,
		},
		{
			name: "latest cannot be set by hand",
			apply: func(m promptd.LabelMap) (promptd.LabelMap, error) {
				return m.WithLabelsSet("body.labels", 2, []string{"latest"})
			},
			wantErr: "body.labels",
		},
		{
			name:  "deleting the latest version moves latest down",
			apply: func(m promptd.LabelMap) (promptd.LabelMap, error) { return m.WithVersionDeleted(3, 2), nil },
			want:  promptd.LabelMap{"latest": 2, "production": 2},
		},
		{
			name:  "deleting another version only drops its labels",
			apply: func(m promptd.LabelMap) (promptd.LabelMap, error) { return m.WithVersionDeleted(2, 3), nil },
			want:  promptd.LabelMap{"latest": 3, "staging": 3},
		},
		{
			name: "deleting the last version leaves nothing",
			apply: func(promptd.LabelMap) (promptd.LabelMap, error) {
				return promptd.LabelMap{"latest": 1}.WithVersionDeleted(1, 0), nil
			},
			want: promptd.LabelMap{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(base)
			got, err := tt.apply(before)
			if tt.wantErr != "" {
				if promptd.ErrorKind(err) != promptd.EINVALID || promptd.ErrorField(err) != tt.wantErr {
					t.Fatalf("err = %v (field %q), want EINVALID on %s", err, promptd.ErrorField(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if !maps.Equal(before, base) {
				t.Errorf("input map was modified: %v", before)
			}
		})
	}
}

func TestLabelChanges(t *testing.T) {
	t.Parallel()
	before := promptd.LabelMap{"latest": 3, "production": 2}
	after := promptd.LabelMap{"latest": 4, "production": 4}
	got := promptd.LabelChanges(before, after)
	if len(got) != 3 {
		t.Fatalf("changed versions = %v, want 2, 3 and 4", got)
	}
	check := func(n int, added, removed []string) {
		t.Helper()
		c := got[n]
		if !reflect.DeepEqual(c.LabelsAdded, added) || !reflect.DeepEqual(c.LabelsRemoved, removed) {
			t.Errorf("version %d: added %v removed %v, want %v and %v", n, c.LabelsAdded, c.LabelsRemoved, added, removed)
		}
	}
	check(4, []string{"latest", "production"}, []string{})
	check(3, []string{}, []string{"latest"})
	check(2, []string{}, []string{"production"})

	if n := promptd.VersionsToNotify(got, false, before, after, 4); !reflect.DeepEqual(n, []int{2, 3}) {
		t.Errorf("VersionsToNotify = %v, want [2 3]", n)
	}
	same := promptd.LabelChanges(before, before)
	if len(same) != 0 {
		t.Errorf("no move reported changes %v", same)
	}
	if n := promptd.VersionsToNotify(same, true, before, before, 0); !reflect.DeepEqual(n, []int{2, 3}) {
		t.Errorf("a tag change notifies %v, want the labelled versions [2 3]", n)
	}
}

func TestTagChanges(t *testing.T) {
	t.Parallel()
	added, removed := promptd.TagChanges([]string{"a", "b"}, []string{"b", "c"})
	if !reflect.DeepEqual(added, []string{"c"}) || !reflect.DeepEqual(removed, []string{"a"}) {
		t.Errorf("added %v removed %v", added, removed)
	}
}
