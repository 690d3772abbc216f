package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/pgtest"
	"github.com/promptd/promptd/store/sqlstore"
	"github.com/promptd/promptd/store/storetest"
)

func open(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	pgtest.Require(t)
	storetest.Exercise(t, func(t *testing.T) promptd.Store {
		s := open(t, pgtest.URL(t))
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestMigrateConcurrently starts several instances on one empty schema at once: the
// migration lock lets exactly one apply each migration and the others find it done.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		s := open(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Migrate(t.Context())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	if err := open(t, url).Migrate(t.Context()); err != nil {
		t.Errorf("Migrate on an up-to-date schema: %v", err)
	}
}

// TestSchemaIsolation checks that the search_path of a pgtest URL reaches the connections:
// two stores on two schemas do not see each other's data.
func TestSchemaIsolation(t *testing.T) {
	t.Parallel()
	a, b := open(t, pgtest.URL(t)), open(t, pgtest.URL(t))
	for _, s := range []*sqlstore.Store{a, b} {
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.CreateProject(t.Context(), "only-in-a"); err != nil {
		t.Fatal(err)
	}
	projects, err := b.ListProjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(projects) != 0 {
		t.Errorf("schema b sees projects %v", projects)
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if s, err := Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"); err == nil {
		s.Close()
		t.Error("Open succeeded without a server")
	}
}
