-- After a write failed because the database was full or could not be reached, the readiness
-- probe checks whether writes work again by writing here (a row inserted and deleted in one
-- transaction); see store/sqlstore/fault.go. The table stays empty.

-- +goose Up
CREATE TABLE write_probe (
    id  INTEGER PRIMARY KEY,
    pad BYTEA NOT NULL
);

-- +goose Down
DROP TABLE write_probe;
