package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Daily partitions (PostgreSQL, migration 00012): deliveries is range-partitioned on id and
// attempts on delivery_id, one partition a day, deliveries_pYYYYMMDD and attempts_pYYYYMMDD,
// each holding the ids from idBefore(midnight UTC) to idBefore(the next midnight). Ids are
// UUIDv7, so a delivery sits in the partition of the day it was created, and its attempts
// beside it. The store creates today's and the next days' partitions (partitionsAhead) at
// Migrate and at every Purge; the retention purge drops a day's two partitions at once when
// it is wholly older than the cutoff and holds no delivery the purge must keep. Everything
// else (the partitions deliveries_legacy and *_default, and a day that still holds a pending
// delivery) is purged row by row as before.

// partitionsAhead is how many days after today get their partitions in advance. The retention
// purge runs hourly, so one would do; the others cover an instance that starts rarely.
const partitionsAhead = 2

// partitionLockTimeout bounds how long the purge waits for the locks that dropping a
// partition takes on the whole table (every claim and publish waits behind it meanwhile).
const partitionLockTimeout = "1s"

// dayName is the suffix of a day's partitions.
const dayName = "20060102"

// partitioned reports whether deliveries and attempts are partitioned by day.
func (s *Store) partitioned() bool { return s.d.PartitionLock != "" }

// partitionBound is one partition's range; from "" is MINVALUE, a default partition has
// neither bound.
type partitionBound struct {
	name      string
	from, to  string
	isDefault bool
}

var boundRE = regexp.MustCompile(`^FOR VALUES FROM \((MINVALUE|'[^']*')\) TO \((MAXVALUE|'[^']*')\)$`)

// partitionsOf lists the partitions of table with their ranges.
func partitionsOf(ctx context.Context, tx *writeTx, table string) ([]partitionBound, error) {
	rows, err := tx.QueryContext(ctx, `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass`, table)
	if err != nil {
		return nil, fmt.Errorf("listing the partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []partitionBound
	for rows.Next() {
		var name, expr string
		if err := rows.Scan(&name, &expr); err != nil {
			return nil, err
		}
		b := partitionBound{name: name}
		if expr == "DEFAULT" {
			b.isDefault = true
		} else {
			m := boundRE.FindStringSubmatch(expr)
			if m == nil {
				return nil, fmt.Errorf("partition %s of %s: unexpected bound %q", name, table, expr)
			}
			unquote := func(v string) string { return strings.Trim(v, "'") }
			if m[1] != "MINVALUE" {
				b.from = unquote(m[1])
			}
			if m[2] == "MAXVALUE" {
				b.to = "\xff"
			} else {
				b.to = unquote(m[2])
			}
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// dayRange returns the id range of the UTC day starting at day.
func dayRange(day time.Time) (from, to string) {
	return idBefore(day), idBefore(day.AddDate(0, 0, 1))
}

// ensurePartitions creates the partitions of today (by now) and of the partitionsAhead days
// after it that are missing, a day in a transaction of its own, under the dialect's
// PartitionLock. A day whose range overlaps an existing partition (the legacy one) is left
// to it. A day fails to be created when the default partition already holds rows of it; the
// other days are still created, and the error names the day.
func (s *Store) ensurePartitions(ctx context.Context, now time.Time) error {
	if !s.partitioned() {
		return nil
	}
	today := now.UTC().Truncate(24 * time.Hour)
	var errs []error
	for i := range partitionsAhead + 1 {
		day := today.AddDate(0, 0, i)
		err := s.writeAlone(ctx, "partitions", func(tx *writeTx, _ time.Time) error {
			if _, err := tx.ExecContext(ctx, s.d.PartitionLock); err != nil {
				return fmt.Errorf("taking the partition lock: %w", err)
			}
			parts, err := partitionsOf(ctx, tx, "deliveries")
			if err != nil {
				return err
			}
			from, to := dayRange(day)
			for _, p := range parts {
				if !p.isDefault && p.from < to && from < p.to {
					return nil // there already, or inside the legacy partition
				}
			}
			suffix := day.Format(dayName)
			for _, table := range []string{"deliveries", "attempts"} {
				if _, err := tx.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE %s_p%s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
					table, suffix, table, from, to)); err != nil {
					return fmt.Errorf("creating the partition %s_p%s: %w", table, suffix, err)
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dayPartitionRE matches the name of a day's deliveries partition.
var dayPartitionRE = regexp.MustCompile(`^deliveries_p(\d{8})$`)

// dropPartitions drops the day partitions of deliveries and attempts that end before the id of
// before and hold no delivery the purge must keep: none pending or delivering, none updated
// at or after before. Each day goes in a transaction of its own that first takes the
// dialect's purge lock (without it, it returns at once, like Purge) and blocks writes to the
// day's two partitions while it checks them. A day that holds a delivery to keep stays, for
// the row-by-row purge. It returns the rows dropped and whether it had the purge lock.
func (s *Store) dropPartitions(ctx context.Context, before time.Time) (int64, bool, error) {
	if !s.partitioned() {
		return 0, true, nil
	}
	var days []time.Time
	err := s.writeAlone(ctx, "purge", func(tx *writeTx, _ time.Time) error {
		parts, err := partitionsOf(ctx, tx, "deliveries")
		if err != nil {
			return err
		}
		cut := idBefore(before)
		for _, p := range parts {
			m := dayPartitionRE.FindStringSubmatch(p.name)
			if m == nil || p.to > cut {
				continue
			}
			day, err := time.Parse(dayName, m[1])
			if err != nil {
				continue
			}
			if from, to := dayRange(day); from != p.from || to != p.to {
				continue // not the range its name says: leave it to the row purge
			}
			days = append(days, day)
		}
		return nil
	})
	if err != nil {
		return 0, true, err
	}
	var total int64
	for _, day := range days {
		var (
			n      int64
			locked = true
		)
		suffix := day.Format(dayName)
		d, a := "deliveries_p"+suffix, "attempts_p"+suffix
		err := s.writeAlone(ctx, "purge", func(tx *writeTx, _ time.Time) error {
			if s.d.TryPurgeLock != "" {
				if err := tx.QueryRowContext(ctx, s.d.TryPurgeLock).Scan(&locked); err != nil {
					return fmt.Errorf("taking the purge lock: %w", err)
				}
				if !locked {
					return nil
				}
			}
			if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '`+partitionLockTimeout+`'`); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `LOCK TABLE `+d+`, `+a+` IN SHARE MODE`); err != nil {
				return fmt.Errorf("locking %s: %w", d, err)
			}
			var rows, keep, attempts int64
			if err := tx.QueryRowContext(ctx, `SELECT count(*),
				count(*) FILTER (WHERE status NOT IN ('succeeded', 'failed', 'cancelled') OR updated_at >= $1)
				FROM `+d, millis(before)).Scan(&rows, &keep); err != nil {
				return fmt.Errorf("checking %s: %w", d, err)
			}
			if keep > 0 {
				return nil
			}
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+a).Scan(&attempts); err != nil {
				return fmt.Errorf("counting %s: %w", a, err)
			}
			if _, err := tx.ExecContext(ctx, `DROP TABLE `+a+`, `+d); err != nil {
				return fmt.Errorf("dropping %s and %s: %w", d, a, err)
			}
			n = rows + attempts
			return nil
		})
		if err != nil {
			return total, true, err
		}
		if !locked {
			return total, false, nil
		}
		total += n
	}
	return total, true, nil
}
